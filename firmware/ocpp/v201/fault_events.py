"""NotifyEvent for the charger's faults (OCPP 2.0.1 G05, N07; docs/reference/ocpp201.md §17).

Every fault the core raises or clears (FaultChanged) becomes one NotifyEvent with the fault → event table
of firmware/ocpp/v201/faults.py (the device-model variable that shows the fault, trigger Alerting,
HardWiredNotification, techCode/techInfo, `cleared` when the variable reads false again, N07.FR.02; a lock
failure is ConnectorPlugRetentionLock.Problem true, G05.FR.02). Each NotifyEvent is a message of its own:
seqNo 0 (N07.FR.07: the first message of an event), no tbc (nothing is split over several messages),
generatedAt = when the core saw the change, eventId unique for the station (a counter kept in the 2.0.1
database, so ids are not reused after a restart).

The rows go into the durable lane of the 2.0.1 outbox, in the same SQLite transaction that advances the
eventId, and Delivery201 sends them in order with the TransactionEvents and SecurityEventNotifications once
registered (never before, B01.FR.08), retrying as it retries those (N07.FR.04: queued while offline,
delivered once back online). A fault raised and cleared while the link is down is therefore
reported after the reconnect, in order, with the time it happened: the CSMS's picture of the hardware never
misses a change (a live-only lane would keep at most the last state and lose the fact that a residual
current trip happened at all).

The faults reported active are kept in the database too: one that is still gone STARTUP_SETTLE_S after the
station started again (cleared while it was off, e.g. a meter repaired) is reported cleared then, so the
CSMS is not left with a problem that no longer exists. The wait lets the core find again what it finds
only after a while (a meter that does not answer shows after its poll timeouts): such a fault is not
reported cleared and raised again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, FaultChanged
from firmware.core.vocabulary import Fault
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.faults import fault_event
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

ACTION = "NotifyEvent"
STARTUP_SETTLE_S = 60.0
log = logging.getLogger(__name__)


class FaultEvents201:
    def __init__(self, station: StationApi, db: StateDatabase, outbox: Outbox,
                 wake: Callable[[], None], clock: Clock) -> None:
        self._station = station
        self._db = db
        self._outbox = outbox
        self._wake = wake
        self._clock = clock
        self._tasks = OwnedTasks(log)
        db.executescript("""
            CREATE TABLE IF NOT EXISTS ocpp201_event_id (id INTEGER PRIMARY KEY CHECK (id = 1),
                                                         last INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS ocpp201_faults_reported (connector_id INTEGER NOT NULL,
                                                                fault TEXT NOT NULL,
                                                                PRIMARY KEY (connector_id, fault));
        """)
        db.commit()
        self._active: dict[int, set[Fault]] = {}  # connector → the faults reported active
        known = {f.value: f for f in Fault}  # a fault this version no longer has is dropped
        for cid, fault in db.execute("SELECT connector_id, fault FROM ocpp201_faults_reported"):
            if fault in known:
                self._active.setdefault(int(cid), set()).add(known[fault])
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    def start(self) -> None:
        if any(self._active.values()):
            self._tasks.spawn(self._clear_gone(), "ocpp201-faults-gone")

    async def _clear_gone(self) -> None:
        """Report cleared what was reported active before the restart and is not active now."""
        await self._clock.sleep(STARTUP_SETTLE_S)
        now_active = {(c["id"], f) for c in self._station.snapshot()["connectors"] for f in c["faults"]}
        for cid, faults in list(self._active.items()):
            for fault in sorted(faults):
                if (cid, fault.value) not in now_active:
                    self._on_event(FaultChanged(cid, fault, False, self._clock.now()))

    def stop(self) -> None:
        self._tasks.cancel_all()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def online(self, cp: ChargePoint201) -> None:
        return None  # the rows go out through the outbox delivery

    def last_event_id(self) -> int:
        row = self._db.execute("SELECT last FROM ocpp201_event_id WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def _on_event(self, event: CoreEvent) -> None:
        if not isinstance(event, FaultChanged):
            return
        active = self._active.setdefault(event.connector_id, set())
        if (event.fault in active) == event.active:
            return  # reported so already (the core found it again after a restart)
        if event.active:
            active.add(event.fault)
        else:
            active.discard(event.fault)
        with self._db:
            if event.active:
                self._db.execute("INSERT OR IGNORE INTO ocpp201_faults_reported (connector_id, fault) "
                                 "VALUES (?, ?)", (event.connector_id, event.fault.value))
            else:
                self._db.execute("DELETE FROM ocpp201_faults_reported WHERE connector_id = ? AND fault = ?",
                                 (event.connector_id, event.fault.value))
            event_id = self.last_event_id() + 1
            self._db.execute("INSERT INTO ocpp201_event_id (id, last) VALUES (1, ?) "
                             "ON CONFLICT (id) DO UPDATE SET last = excluded.last", (event_id,))
            data = fault_event(event.fault, event.active, event.connector_id, event_id, event.timestamp,
                               still_active=active)
            self._outbox.add(ACTION, {"generated_at": rfc3339(event.timestamp), "seq_no": 0,
                                      "event_data": [data]})
        self._wake()
