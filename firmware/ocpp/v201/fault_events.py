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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, FaultChanged
from firmware.core.vocabulary import Fault
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.faults import fault_event
from firmware.storage.database import StateDatabase

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

ACTION = "NotifyEvent"


class FaultEvents201:
    def __init__(self, station: StationApi, db: StateDatabase, outbox: Outbox,
                 wake: Callable[[], None]) -> None:
        self._db = db
        self._outbox = outbox
        self._wake = wake
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_event_id "
                   "(id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL)")
        db.commit()
        self._active: dict[int, set[Fault]] = {}  # connector → the faults the core reports active
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    def stop(self) -> None:
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
        if event.active:
            active.add(event.fault)
        else:
            active.discard(event.fault)
        with self._db:
            event_id = self.last_event_id() + 1
            self._db.execute("INSERT INTO ocpp201_event_id (id, last) VALUES (1, ?) "
                             "ON CONFLICT (id) DO UPDATE SET last = excluded.last", (event_id,))
            data = fault_event(event.fault, event.active, event.connector_id, event_id, event.timestamp,
                               still_active=active)
            self._outbox.add(ACTION, {"generated_at": rfc3339(event.timestamp), "seq_no": 0,
                                      "event_data": [data]})
        self._wake()
