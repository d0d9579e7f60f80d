"""SecurityEventNotification with guaranteed delivery, for every OCPP version: each event of the security
log (firmware/security/events.py) that is to be reported is queued in the version's durable outbox exactly
once, in the order it was recorded.

A cursor (the last queued event's sequence number) lives in the version's own database, the outbox's, and
moves in the same SQLite transaction that queues the row: an event is never queued twice nor skipped, also
across restarts and power cuts. `forward()` runs on every new entry of this process (the log's listeners)
and once at start, for entries recorded before (by this process before the adapter listened, e.g.
StartupOfTheDevice, or by another one, e.g. the firmware installer). The version's delivery loop then sends
the rows in order once registered, after any outage or restart. The message (its name and payload) is the
version's: `payload` renders one event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware.ocpp.common.outbox import Outbox
from firmware.security.events import SecurityEvent, SecurityLog
from firmware.storage.database import StateDatabase

Payload = Callable[[SecurityEvent], dict[str, Any]]


class SecurityEventForwarder:
    def __init__(self, db: StateDatabase, security_log: SecurityLog, outbox: Outbox, action: str,
                 payload: Payload, wake: Callable[[], None]) -> None:
        self._db = db
        self._log = security_log
        self._outbox = outbox
        self._action = action
        self._payload = payload
        self._wake = wake
        db.execute("CREATE TABLE IF NOT EXISTS ocpp_security_cursor "
                   "(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)")
        db.commit()
        self._unsubscribe: Callable[[], None] | None = security_log.subscribe(lambda event: self.forward())

    def cursor(self) -> int:
        """The sequence number of the last event queued."""
        row = self._db.execute("SELECT seq FROM ocpp_security_cursor WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def forward(self) -> None:
        """Queue every event to report that is not queued yet (cursor and row in one transaction)."""
        events = self._log.since(self.cursor(), reported_only=True)
        for event in events:
            with self._db:
                if self.cursor() >= event.seq:  # a nested forward (a listener's own event) queued it
                    continue
                self._db.execute("INSERT OR REPLACE INTO ocpp_security_cursor (id, seq) VALUES (1, ?)",
                                 (event.seq,))
                self._outbox.add(self._action, self._payload(event))
        if events:
            self._wake()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
