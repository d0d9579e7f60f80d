"""What the CSMS starts remotely in 1.6: RemoteStartTransaction (which connector takes it, claimed until
its session starts; its chargingProfile, which only smart charging accepts) and Reset (stop every session
with SoftReset/HardReset, let a soft reset deliver them, then restart the service)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from firmware.core.api import StationApi
from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.remote_start import RemoteStartClaims
from firmware.ocpp.common.tasks import wait_until
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.transactions import Transactions16
from firmware.security.events import SecurityEventType, SecurityLog
from hal.clock import Clock

log = logging.getLogger(__name__)

RESET_SETTLE_MAX_S = 10.0


class SmartChargingPort(Protocol):
    """What the 1.6 runtime itself needs from smart charging in 1.6 terms (a `SmartCharging16`); the Smart
    Charging messages go to the same object through the charge point's handlers."""

    def accept_remote_start_profile(self, connector_id: int | None, cs_charging_profile: Any,
                                    wait_s: float | None = None) -> bool: ...

    def configuration_keys(self) -> dict[str, str]: ...


class RemoteControl16:
    def __init__(self, station: StationApi, clock: Clock, config: ConfigurationStore, outbox: Outbox,
                 calls: Calls16, transactions: Transactions16, security_log: SecurityLog,
                 restart: Callable[[bool], None], smart_charging: SmartChargingPort | None,
                 profiles: frozenset[str]) -> None:
        self._station = station
        self._clock = clock
        self._config = config
        self._outbox = outbox
        self._calls = calls
        self._transactions = transactions
        self._security_log = security_log
        self._restart = restart
        self._smart_charging = smart_charging
        self._profiles = profiles
        self._claims = RemoteStartClaims(station, clock, lambda: config.get_int("ConnectionTimeOut"))

    # ---- RemoteStartTransaction ---------------------------------------------------------------------
    def accept_remote_start_profile(self, connector_id: int | None, profile: dict[str, Any]) -> bool:
        """A chargingProfile in RemoteStartTransaction is only accepted if smart charging is present."""
        if self._smart_charging is None or "SmartCharging" not in self._profiles:
            return False
        return self._smart_charging.accept_remote_start_profile(
            connector_id, profile, wait_s=self._config.get_int("ConnectionTimeOut"))

    def claim_connector_for_remote_start(self, connector_id: int | None) -> int | None:
        """RemoteStartTransaction: the connector that will take it (firmware/ocpp/common/remote_start.py);
        None (Rejected) when no connector can take it."""
        return self._claims.claim(connector_id)

    def release_remote_start_claim(self, connector_id: int) -> None:
        self._claims.release(connector_id)

    async def run_remote_start(self, id_tag: str, connector_id: int) -> None:
        try:
            started = await self._station.remote_start(
                id_tag, connector_id, authorize=self._config.get_bool("AuthorizeRemoteTxRequests"))
        except Exception:
            log.exception("remote start failed")
            started = False
        if not started:
            self.release_remote_start_claim(connector_id)

    # ---- Reset --------------------------------------------------------------------------------------
    async def reset(self, hard: bool) -> None:
        """Stop every session with SoftReset/HardReset, let a soft reset deliver them, then restart."""
        try:
            reason = StopReason.HARD_RESET if hard else StopReason.SOFT_RESET
            ending = []
            for connector_id in self._station.connector_ids:
                session_id = self._transactions.session_id(connector_id)
                if session_id is not None:
                    ending.append(session_id)
                    self._station.stop_session(connector_id, reason)
            # Both kinds wait for the core to report the sessions ended (so they are not reported as
            # PowerLoss after the restart); a soft reset also waits for the StopTransactions to be delivered.
            def settled() -> bool:
                stopped = all((self._outbox.transaction(s) or {}).get("stop_queued", 1) for s in ending)
                return stopped and (hard or not self._calls.online or self._outbox.durable_depth() == 0)

            await wait_until(self._clock, settled, RESET_SETTLE_MAX_S)
        except Exception:
            log.exception("reset preparation failed; restarting anyway")
        log.warning("%s reset requested by the CSMS: restarting", "hard" if hard else "soft")
        self._security_log.record(SecurityEventType.RESET_OR_REBOOT,
                                  f"{'Hard' if hard else 'Soft'} Reset by the CSMS")
        self._restart(hard)

    def restart_now(self) -> None:
        """Restart the service (e.g. to activate installed firmware); sessions must have ended."""
        self._restart(False)
