"""SetNetworkProfile in OCPP 2.0.1 (B09): answered Rejected, which B09 allows (TC_B_43).

The station connects with one connection profile, the `[ocpp]` section of the configuration file
(OCPPCommCtrlr.ActiveNetworkProfile 1). A profile the CSMS sends is not stored, and the answer says so
(statusInfo reasonCode UnsupportedRequest) rather than a CALLERROR NotSupported. Migrating to a new
connection profile (B10: stored slots tried in NetworkConfigurationPriority order, falling back after
NetworkProfileConnectionAttempts; A05 through a profile with a higher security profile) is not built.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.ocpp.v201.charge_point import on

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)


class NetworkProfile201:
    async def online(self, cp: ChargePoint201) -> None:
        return None

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                               **kwargs: Any) -> Any:
        log.warning("SetNetworkProfile for slot %d refused: one connection profile, the [ocpp] section",
                    configuration_slot)  # connection_data holds credentials: never logged
        return call_result.SetNetworkProfile(status="Rejected", status_info={
            "reason_code": "UnsupportedRequest",
            "additional_info": "one connection profile: the [ocpp] section of the configuration file"})
