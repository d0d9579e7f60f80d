"""SetNetworkProfile in OCPP 2.0.1 (B09): the CSMS stores a connection profile in slot 2 or 3.

Answers, with the statusInfo reasonCode of the errata'd B09 requirements:
- a slot outside NetworkConfigurationPriority's valuesList, slot 1 (the `[ocpp]` section of the
  configuration file, which only a technician changes) or the slot in use: Rejected InvalidConfSlot
  (B09.FR.05);
- what this station cannot run: another OCPP version or transport than OCPP20/JSON, an APN (no modem) or
  VPN to set up, a URL that is not ws:// for security profile 0/1 or wss:// for 2/3: Rejected
  InvalidNetworkConf (B09.FR.02);
- a security profile below SecurityCtrlr.SecurityProfile: Rejected NoSecurityDowngrade (B09.FR.04);
- a profile whose prerequisites are missing (Basic-auth password; CSMS root certificate for 2/3, A05.FR.02;
  station certificate for 3, A05.FR.03; clear-text Basic auth not allowed): Rejected InvalidNetworkConf
  with the missing piece in additionalInfo;
- the database cannot keep it: Failed (B09.FR.03); else Accepted: the profile is used once
  NetworkConfigurationPriority names its slot (after a reboot, `network_slots.py`).
connectionData may hold credentials (APN, VPN): it is never logged.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.network_slots import FILE_SLOT, PRIORITY, NetworkSlots, StoredProfile, required_scheme

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)


class NetworkProfile201:
    def __init__(self, slots: NetworkSlots, security: LinkSecurity, model: DeviceModel) -> None:
        self._slots = slots
        self._security = security
        self._model = model

    async def online(self, cp: ChargePoint201) -> None:
        return None

    def _slot_refusal(self, slot: int) -> str | None:
        allowed = self._model.values_list(PRIORITY)
        if str(slot) not in allowed:
            return f"slot {slot} is not one of {', '.join(allowed)}"
        if slot == FILE_SLOT:
            return "slot 1 is the [ocpp] section of the configuration file"
        if slot == self._slots.active:
            return f"slot {slot} is in use"
        return None

    def _configuration_refusal(self, data: dict[str, Any]) -> str | None:
        if data.get("ocpp_version") != "OCPP20" or data.get("ocpp_transport") != "JSON":
            return "OCPP 2.0.1 over JSON only"
        if data.get("apn") is not None:
            return "no cellular modem to configure an APN on"
        if data.get("vpn") is not None:
            return "no VPN client to configure"
        profile = int(data["security_profile"])
        url = urlsplit(str(data["ocpp_csms_url"]))
        scheme = required_scheme(profile)
        if url.scheme != scheme or not url.hostname:
            return f"security profile {profile} needs a {scheme}:// URL with a host"
        return None

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                               **kwargs: Any) -> Any:
        slot = int(configuration_slot)
        profile = int(connection_data["security_profile"])
        reason, info = "InvalidConfSlot", self._slot_refusal(slot)
        if info is None:
            reason, info = "InvalidNetworkConf", self._configuration_refusal(connection_data)
        if info is None and profile < self._security.profile:
            reason, info = "NoSecurityDowngrade", f"security profile {profile} is below the current one"
        if info is None:
            endpoint = str(connection_data["ocpp_csms_url"])
            reason, info = "InvalidNetworkConf", self._security.missing_for(profile, endpoint)
        if info is not None:
            # connectionData holds credentials (APN, VPN): only the slot and the reason are logged.
            log.warning("SetNetworkProfile for slot %d refused: %s", slot, info)
            return call_result.SetNetworkProfile(status="Rejected", status_info={
                "reason_code": reason, "additional_info": info[:512]})
        stored = StoredProfile(slot, str(connection_data["ocpp_csms_url"]), profile,
                               int(connection_data["message_timeout"]),
                               str(connection_data.get("ocpp_interface", "")))
        try:
            self._slots.store(stored)
        except sqlite3.Error as exc:
            log.error("SetNetworkProfile for slot %d could not be stored: %s", slot, exc)
            return call_result.SetNetworkProfile(status="Failed", status_info={
                "reason_code": "WriteFailed", "additional_info": str(exc)[:512]})
        return call_result.SetNetworkProfile(status="Accepted")
