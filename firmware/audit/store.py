"""The rolling store of audit lines: `<state_dir>/events.sqlite3`, read by `chargepi events`.

`EventStore` is a logging handler on the `firmware.events` logger: every audit line the journal gets is
also kept here, with its structured fields (credentials masked), so a technician can read the history
without journal access and after the journal rotated. The newest `keep` lines are kept (a line is a few
hundred bytes: 20,000 lines are a few MiB); one small write per event, never per meter sample.

The file holds idTags (cards presented, sessions), so it is mode 0600 like the session records.
`chargepi events` asks the running controller (`events` control command, read-only role; idTags masked
for callers without the technician role) and reads the file itself (`read_events`) only when the
controller is not running, which only root and the service user can.
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
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredEvent:
        rest = {k: v for k, v in data.items() if k not in ("id", "time", "level", "event", "message")}
        return cls(int(data["id"]), datetime.fromisoformat(data["time"]), str(data["level"]),
                   str(data["event"]), str(data["message"]), rest)


Window = tuple[datetime | None, int, int | None, int | None]  # since, after_id, connector, limit


def window_args(since: datetime | None, after_id: int, connector: int | None,
                limit: int | None) -> dict[str, Any]:
    """The `events` control command's arguments for a selection (see `parse_window`)."""
    args: dict[str, Any] = {"after_id": after_id, "connector": connector, "limit": limit}
    if since is not None:
        args["since"] = since.isoformat()
    return {k: v for k, v in args.items() if v is not None}


def parse_window(args: dict[str, Any]) -> Window:
    """A selection from the `events` control command's arguments; ValueError for a malformed one."""
    since = datetime.fromisoformat(str(args["since"])) if args.get("since") else None
    def number(key: str) -> int | None:
        return None if args.get(key) is None else int(args[key])
    return since, number("after_id") or 0, number("connector"), number("limit")


def _create(db: StateDatabase) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, "
               "level TEXT NOT NULL, event TEXT NOT NULL, message TEXT NOT NULL, fields TEXT NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS events_time ON events (time)")


class EventStore(logging.Handler):
    """Keeps each audit record in SQLite. Thread-safe (the handler lock serialises writes)."""

    def __init__(self, path: Path, keep: int = KEEP, storage: StateDir | None = None) -> None:
        super().__init__(logging.INFO)
        self.path = path
        self.keep = keep
        self._since_prune = 0
        state = storage if storage is not None and storage.path == path.parent else StateDir(path.parent)
        # Non-essential (firmware/storage/): on a full disk it gives way first (kept in memory, written back
        # later); a corrupt file is quarantined. synchronous=NORMAL: an event may be lost in a power cut.
        self._db = StateDatabase(state, path.name, essential=False, threads=True, private=True,
                                 setup=_create)

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

    def read(self, since: datetime | None = None, after_id: int = 0, connector: int | None = None,
             limit: int | None = None) -> list[StoredEvent]:
        """Stored events as `read_events` selects them, from the live store (records held in memory on a
        full disk included)."""
        sql, params = _query(since, after_id, connector, limit)
        self.acquire()
        try:
            rows = self._db.execute(sql, params).fetchall()
        finally:
            self.release()
        return _events(rows)

    def close(self) -> None:
        self.acquire()
        try:
            self._db.close()
        finally:
            self.release()
        super().close()


def attach(state_dir: Path, storage: StateDir | None = None) -> EventStore | None:
    """Keep the audit lines in `<state_dir>/events.sqlite3`; None (journal only) if that cannot be opened."""
    try:
        store = EventStore(db_path(state_dir), storage=storage)
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


def _query(since: datetime | None, after_id: int, connector: int | None,
           limit: int | None) -> tuple[str, list[Any]]:
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
    return query, params


def _events(rows: list[Any]) -> list[StoredEvent]:
    return [StoredEvent(row[0], datetime.fromisoformat(row[1]), row[2], row[3], row[4], json.loads(row[5]))
            for row in reversed(rows)]


def read_events(path: Path, since: datetime | None = None, after_id: int = 0,
                connector: int | None = None, limit: int | None = None) -> list[StoredEvent]:
    """Stored events, oldest first: newer than `since` and `after_id`, the last `limit` of them."""
    if not path.exists():
        raise FileNotFoundError(f"no event history at {path} yet (the controller writes it when it runs)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(*_query(since, after_id, connector, limit)).fetchall()
    finally:
        db.close()
    return _events(rows)
