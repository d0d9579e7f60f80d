"""Reset in OCPP 2.0.1 (B11 without, B12 with an ongoing transaction) and the boot reason it leaves.

* `Immediate`: Accepted; every open transaction ends at once (TransactionEvent Ended, triggerReason
  ResetCommand, stoppedReason ImmediateReset, also one without a session), the station waits until the Ended
  events are queued and, while registered, delivered (at most RESET_SETTLE_MAX_S), then the controller
  restarts (B11.FR.01, B12.FR.01/02).
* `OnIdle`: Accepted and the restart at once when no transaction runs; else Scheduled (B12.FR.03): no new
  session starts meanwhile (idle EVSEs Unavailable, a hold the restart ends) and the restart follows the
  last transaction's end. A later Reset replaces a scheduled one (an Immediate one ends the waiting).
* With `evseId`: Rejected (UnsupportedRequest): one controller process drives every EVSE, so an EVSE cannot
  be reset on its own; `EVSE.AllowReset` reads false (C-13 not offered).
* The security event ResetOrReboot is recorded, and the next BootNotification says `RemoteReset`: the
  reason is kept in the adapter's database until a BootNotification is accepted, so it survives the
  restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.tasks import OwnedTasks, wait_until
from firmware.ocpp.v201.charge_point import after, on
from firmware.ocpp.v201.transactions import Transactions201
from firmware.security.events import SecurityEventType, SecurityLog
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

RESET_SETTLE_MAX_S = 40.0  # Ended of a signing meter may wait 30 s for its signed end (SMV §2.3.1)
IDLE_POLL_S = 1.0
HOLD_REASON = "reset"
REMOTE_RESET = "RemoteReset"


class Reset201:
    def __init__(self, station: StationApi, clock: Clock, db: StateDatabase, transactions: Transactions201,
                 outbox: Outbox, online: Callable[[], bool], security_log: SecurityLog,
                 restart: Callable[[], None]) -> None:
        self._station = station
        self._clock = clock
        self._db = db
        self._transactions = transactions
        self._outbox = outbox
        self._online = online
        self._security_log = security_log
        self._restart = restart
        self._tasks = OwnedTasks(log)
        self._running: asyncio.Task[None] | None = None
        self._answered: dict[str, str] = {}  # CALL id -> the reset type to run once the answer is out
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_boot_reason "
                   "(id INTEGER PRIMARY KEY CHECK (id = 1), reason TEXT NOT NULL)")
        db.commit()

    # --- the boot reason ----------------------------------------------------------------------------
    @property
    def boot_reason(self) -> str | None:
        """RemoteReset when this start follows a Reset not yet announced by an accepted BootNotification."""
        row = self._db.execute("SELECT reason FROM ocpp201_boot_reason WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    def registered(self) -> None:
        """A BootNotification was accepted: its reason has been told."""
        with self._db:
            self._db.execute("DELETE FROM ocpp201_boot_reason")

    async def online(self, cp: ChargePoint201) -> None:
        return None

    def stop(self) -> None:
        self._tasks.cancel_all()

    # --- ResetRequest -------------------------------------------------------------------------------
    def _busy(self) -> bool:
        return bool(self._transactions.open) or any(
            self._station.session_of(c) is not None for c in self._station.connector_ids)

    @on(Action.reset)
    def on_reset(self, type: str, call_unique_id: str, evse_id: int | None = None, **kwargs: Any) -> Any:
        if evse_id is not None:
            return call_result.Reset(status="Rejected", status_info={
                "reason_code": "UnsupportedRequest",
                "additional_info": "one controller drives every EVSE: reset the station (no evseId)"})
        self._answered[call_unique_id] = type
        return call_result.Reset(status="Scheduled" if type == "OnIdle" and self._busy() else "Accepted")

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **kwargs: Any) -> None:
        kind = self._answered.pop(call_unique_id, None)
        if kind is None:
            return
        if self._running is not None:
            self._running.cancel()  # a later Reset replaces the scheduled one
        self._running = self._tasks.spawn(self._reset(kind == "Immediate"), "ocpp201-reset")

    async def _reset(self, immediate: bool) -> None:
        self._station.hold_new_sessions(HOLD_REASON, True)  # nothing new starts before the restart
        try:
            if immediate:
                for cid in list(self._transactions.open):
                    self._transactions.end_for_reset(cid)
            while not immediate and self._busy():
                await self._clock.sleep(IDLE_POLL_S)
        except asyncio.CancelledError:
            self._station.hold_new_sessions(HOLD_REASON, False)
            raise
        await wait_until(self._clock, self._settled, RESET_SETTLE_MAX_S)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO ocpp201_boot_reason (id, reason) VALUES (1, ?)",
                             (REMOTE_RESET,))
        kind = "Immediate" if immediate else "OnIdle"
        log.warning("%s reset requested by the CSMS: restarting", kind)
        self._security_log.record(SecurityEventType.RESET_OR_REBOOT, f"{kind} Reset by the CSMS")
        self._restart()

    def _settled(self) -> bool:
        """Every transaction ended and its Ended queued; delivered too while registered."""
        if self._transactions.open or self._transactions.ending:
            return False
        return not self._online() or self._outbox.durable_depth() == 0
