"""The session records database (<state_dir>/sessions.sqlite): schema, writes, queries, pruning.

One row per session. The recorder writes it at start, at most every few minutes while the session runs
(crash safety) and at stop, never per meter sample: an SD card lives longer that way. WAL mode and
synchronous=NORMAL keep each write to one small append. A non-essential store of the state directory: on a
full disk it gives way first (kept in memory, written back later) and a corrupt file is quarantined
(firmware/storage/).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir
from hal.ocmf import SignedRecord

FILE_NAME = "sessions.sqlite"
MAX_LIMIT_CHANGES = 500  # kept per session; later changes are dropped (and counted)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    connector_id INTEGER NOT NULL,
    id_tag TEXT,
    stop_id_tag TEXT,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    meter_start_wh REAL NOT NULL,
    meter_stop_wh REAL NOT NULL,
    max_power_w REAL NOT NULL,
    stop_reason TEXT,
    limit_changes TEXT NOT NULL,
    limit_changes_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (started_at);
CREATE TABLE IF NOT EXISTS signed_readings (
    session_id TEXT NOT NULL,
    context TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    encoding TEXT NOT NULL,
    data TEXT NOT NULL,
    public_key TEXT NOT NULL,
    PRIMARY KEY (session_id, context)
);
CREATE TABLE IF NOT EXISTS open_signings (
    session_id TEXT PRIMARY KEY,
    connector_id INTEGER NOT NULL,
    began_at TEXT NOT NULL
);
"""


def db_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


@dataclass
class SessionRecord:
    session_id: str
    connector_id: int
    id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    meter_stop_wh: float
    max_power_w: float = 0.0
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    # (time, offered amps, reason) for every change of the offered current during the session
    limit_changes: list[tuple[datetime, float, str]] = field(default_factory=list)
    limit_changes_dropped: int = 0

    @property
    def energy_wh(self) -> float:
        return max(0.0, self.meter_stop_wh - self.meter_start_wh)

    def duration_s(self, now: datetime | None = None) -> float:
        end = self.stopped_at or now or self.started_at
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def avg_power_w(self) -> float:
        """Energy over the whole plugged-in session time (including pauses)."""
        seconds = self.duration_s()
        return self.energy_wh * 3600 / seconds if seconds > 0 else 0.0

    def add_limit_change(self, when: datetime, amps: float, reason: str) -> None:
        if len(self.limit_changes) < MAX_LIMIT_CHANGES:
            self.limit_changes.append((when, amps, reason))
        else:
            self.limit_changes_dropped += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "stop_id_tag": self.stop_id_tag,
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at) if self.stopped_at else None,
            "duration_s": round(self.duration_s(), 0),
            "meter_start_wh": round(self.meter_start_wh, 1),
            "meter_stop_wh": round(self.meter_stop_wh, 1),
            "energy_wh": round(self.energy_wh, 1),
            "max_power_w": round(self.max_power_w, 0),
            "avg_power_w": round(self.avg_power_w, 0),
            "stop_reason": self.stop_reason,
            "limit_changes": [{"at": _iso(at), "offered_a": amps, "reason": reason}
                              for at, amps, reason in self.limit_changes],
            "limit_changes_dropped": self.limit_changes_dropped,
        }


    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SessionRecord:
        """The record `as_dict` described (e.g. received over the control socket)."""
        return cls(
            session_id=row["session_id"], connector_id=row["connector_id"], id_tag=row["id_tag"],
            stop_id_tag=row["stop_id_tag"], started_at=_parse(row["started_at"]),
            stopped_at=_parse(row["stopped_at"]) if row["stopped_at"] else None,
            meter_start_wh=row["meter_start_wh"], meter_stop_wh=row["meter_stop_wh"],
            max_power_w=row["max_power_w"], stop_reason=row["stop_reason"],
            limit_changes=[(_parse(c["at"]), c["offered_a"], c["reason"]) for c in row["limit_changes"]],
            limit_changes_dropped=row["limit_changes_dropped"])


def _iso(when: datetime) -> str:
    """UTC to the second, one fixed format, so text order in SQLite is time order."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


class SessionStore:
    """Read-write access for the recorder; `SessionStore.open_read_only` for the CLI."""

    def __init__(self, db: sqlite3.Connection | StateDatabase) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path, storage: StateDir | None = None) -> SessionStore:
        state = storage if storage is not None and storage.path == path.parent else StateDir(path.parent)
        # idTags are personal data: only the service user (and root) read the file; everyone else asks
        # the controller, which hides them from read-only callers (firmware/control/roles.py).
        return cls(StateDatabase(state, path.name, essential=False, private=True,
                                 setup=lambda db: db.executescript(_SCHEMA)))

    @classmethod
    def open_read_only(cls, path: Path) -> SessionStore:
        if not path.is_file():
            raise FileNotFoundError(f"no session records at {path} (has the controller run yet?)")
        return cls(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))

    def close(self) -> None:
        self._db.close()

    def save(self, record: SessionRecord) -> None:
        limits = json.dumps([[_iso(at), amps, reason] for at, amps, reason in record.limit_changes])
        self._db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (record.session_id, record.connector_id, record.id_tag, record.stop_id_tag,
             _iso(record.started_at), _iso(record.stopped_at) if record.stopped_at else None,
             record.meter_start_wh, record.meter_stop_wh, record.max_power_w, record.stop_reason,
             limits, record.limit_changes_dropped))

    def get(self, session_id: str) -> SessionRecord | None:
        rows = self._select("WHERE session_id = ?", (session_id,))
        return rows[0] if rows else None

    def sessions(self, since: datetime | None = None, until: datetime | None = None) -> list[SessionRecord]:
        """Sessions started in [since, until), oldest first."""
        clauses, params = [], []
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(_iso(since))
        if until is not None:
            clauses.append("started_at < ?")
            params.append(_iso(until))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(f"{where} ORDER BY started_at", tuple(params))

    def prune(self, before: datetime) -> int:
        """Delete finished sessions that stopped before `before`; returns how many."""
        cursor = self._db.execute("DELETE FROM sessions WHERE stopped_at IS NOT NULL AND stopped_at < ?",
                                  (_iso(before),))
        self._db.execute(
            "DELETE FROM signed_readings WHERE session_id NOT IN (SELECT session_id FROM sessions)")
        return cursor.rowcount

    def add_signed(self, session_id: str, context: str, taken_at: datetime, record: SignedRecord) -> None:
        """A signing meter's record (OCMF) of the session's begin or end."""
        self._db.execute("INSERT OR REPLACE INTO signed_readings VALUES (?,?,?,?,?,?)",
                         (session_id, context, _iso(taken_at), record.encoding, record.data,
                          record.public_key))

    def holds_record(self, data: str) -> bool:
        """Whether this exact signed record is stored already (for any session)."""
        return self._db.execute("SELECT 1 FROM signed_readings WHERE data = ? LIMIT 1", (data,)).fetchone() \
            is not None

    def signing_began(self, session_id: str, connector_id: int, when: datetime) -> None:
        """Before the meter is asked to begin: the session's signed end is owed until `signing_ended`."""
        self._db.execute("INSERT OR REPLACE INTO open_signings VALUES (?,?,?)",
                         (session_id, connector_id, _iso(when)))

    def signing_ended(self, session_id: str) -> None:
        self._db.execute("DELETE FROM open_signings WHERE session_id = ?", (session_id,))

    def open_signings(self) -> list[tuple[str, int]]:
        """(session id, connector id) of every session whose signed end was never stored, oldest first."""
        rows = self._db.execute("SELECT session_id, connector_id FROM open_signings ORDER BY began_at")
        return [(str(r[0]), int(r[1])) for r in rows.fetchall()]

    def signed(self, session_id: str) -> list[tuple[str, datetime, SignedRecord]]:
        """(context, taken at, record) of every signed reading of the session, begin first."""
        rows = self._db.execute(
            "SELECT context, taken_at, encoding, data, public_key FROM signed_readings WHERE session_id = ?"
            " ORDER BY taken_at, context", (session_id,)).fetchall()
        return [(r[0], _parse(r[1]), SignedRecord(r[3], r[4], r[2])) for r in rows]

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[SessionRecord]:
        rows = self._db.execute(
            "SELECT session_id, connector_id, id_tag, stop_id_tag, started_at, stopped_at, meter_start_wh,"
            " meter_stop_wh, max_power_w, stop_reason, limit_changes, limit_changes_dropped"
            f" FROM sessions {tail}", params).fetchall()
        return [SessionRecord(
            session_id=r[0], connector_id=r[1], id_tag=r[2], stop_id_tag=r[3], started_at=_parse(r[4]),
            stopped_at=_parse(r[5]) if r[5] else None, meter_start_wh=r[6], meter_stop_wh=r[7],
            max_power_w=r[8], stop_reason=r[9],
            limit_changes=[(_parse(at), amps, reason) for at, amps, reason in json.loads(r[10])],
            limit_changes_dropped=r[11]) for r in rows]
