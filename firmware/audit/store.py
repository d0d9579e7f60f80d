"""The rolling store of audit lines: `<state_dir>/events.sqlite3`, read by `chargepi events`.

`EventStore` is a logging handler on the `firmware.events` logger: every audit line the journal gets is
also kept here, with its structured fields (credentials masked), so a technician can read the history
without journal access and after the journal rotated. The newest `keep` lines are kept (a line is a few
hundred bytes: 20,000 lines are a few MiB); one small write per event, never per meter sample.

Readers open the file read-only (`read_events`), so `chargepi events` works whether or not the controller
runs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware.redaction import redact_fields

DB_NAME = "events.sqlite3"
KEEP = 20_000
_PRUNE_EVERY = 500
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

log = logging.getLogger(__name__)


def db_path(state_dir: Path) -> Path:
    return state_dir / DB_NAME


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    time: datetime
    level: str
    event: str
    message: str
    fields: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time.isoformat(timespec="milliseconds"), "level": self.level,
                "event": self.event, "message": self.message, **self.fields}


class EventStore(logging.Handler):
    """Keeps each audit record in SQLite. Thread-safe (the handler lock serialises writes)."""

    def __init__(self, path: Path, keep: int = KEEP) -> None:
        super().__init__(logging.INFO)
        self.path = path
        self.keep = keep
        self._since_prune = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # an event may be lost in a power cut; never torn
        self._db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, "
                         "level TEXT NOT NULL, event TEXT NOT NULL, message TEXT NOT NULL, "
                         "fields TEXT NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS events_time ON events (time)")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = redact_fields({k: v for k, v in vars(record).items()
                                    if k not in _STANDARD_ATTRS and not k.startswith("_")})
            event = str(fields.pop("event", "message"))
            when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            self._db.execute("INSERT INTO events (time, level, event, message, fields) "
                             "VALUES (?, ?, ?, ?, ?)", (when, record.levelname, event, record.getMessage(),
                              json.dumps(fields, default=str)))
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._since_prune = 0
                self._db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
                                 (self.keep,))
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.acquire()
        try:
            self._db.close()
        finally:
            self.release()
        super().close()


def attach(state_dir: Path) -> EventStore | None:
    """Keep the audit lines in `<state_dir>/events.sqlite3`; None (journal only) if that cannot be opened."""
    try:
        store = EventStore(db_path(state_dir))
    except (OSError, sqlite3.Error) as exc:
        log.warning("event history not kept (%s: %s); the journal still has every event",
                    db_path(state_dir), exc)
        return None
    events = logging.getLogger("firmware.events")
    if events.level == logging.NOTSET:  # INFO whatever the general level; `[logging.components]
        events.setLevel(logging.INFO)   # events = "WARNING"` mutes the trail (journal and store)
    events.addHandler(store)
    return store


def detach(store: EventStore) -> None:
    logging.getLogger("firmware.events").removeHandler(store)
    store.close()


def read_events(path: Path, since: datetime | None = None, after_id: int = 0,
                connector: int | None = None, limit: int | None = None) -> list[StoredEvent]:
    """Stored events, oldest first: newer than `since` and `after_id`, the last `limit` of them."""
    if not path.exists():
        raise FileNotFoundError(f"no event history at {path} yet (the controller writes it when it runs)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        query = "SELECT id, time, level, event, message, fields FROM events WHERE id > ?"
        params: list[Any] = [after_id]
        if since is not None:
            query += " AND time >= ?"
            params.append(since.astimezone(UTC).isoformat(timespec="milliseconds"))
        if connector is not None:
            query += " AND json_extract(fields, '$.connector') = ?"
            params.append(connector)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        rows = db.execute(query, params).fetchall()
    finally:
        db.close()
    return [StoredEvent(row[0], datetime.fromisoformat(row[1]), row[2], row[3], row[4], json.loads(row[5]))
            for row in reversed(rows)]
