"""Durable core state in SQLite: running sessions (for power-loss recovery) and connector availability.

Writes are few: one row per session start/stop, the meter value at most every `meter_interval_s`, and
availability changes (SD-card wear). An essential store of the state directory (`<state_dir>/core.sqlite`):
it keeps working through a full disk and a corrupt file (firmware/storage/).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir

FILE_NAME = "core.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS active_session (
    connector_id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    id_tag TEXT,
    parent_id_tag TEXT,
    started_at TEXT NOT NULL,
    meter_start_wh REAL NOT NULL,
    last_meter_wh REAL NOT NULL,
    last_meter_at TEXT NOT NULL,
    reservation_id INTEGER,
    max_power_w REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS availability (
    connector_id INTEGER PRIMARY KEY,
    operative INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class JournaledSession:
    connector_id: int
    session_id: str
    id_tag: str | None
    parent_id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    last_meter_wh: float
    last_meter_at: datetime
    reservation_id: int | None
    max_power_w: float = 0.0


def _setup(db: StateDatabase) -> None:
    db.executescript(_SCHEMA)
    columns = {r[1] for r in db.execute("PRAGMA table_info(active_session)")}
    if "max_power_w" not in columns:  # a journal written by an older version
        db.execute("ALTER TABLE active_session ADD COLUMN max_power_w REAL NOT NULL DEFAULT 0")


class CoreJournal:
    def __init__(self, state: StateDir) -> None:
        self._db = StateDatabase(state, FILE_NAME, essential=True, setup=_setup,
                                 private=True)  # holds the idTags of running sessions

    def close(self) -> None:
        self._db.close()

    def session_started(self, s: JournaledSession) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO active_session (connector_id, session_id, id_tag, parent_id_tag, "
            "started_at, meter_start_wh, last_meter_wh, last_meter_at, reservation_id, max_power_w) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (s.connector_id, s.session_id, s.id_tag, s.parent_id_tag, s.started_at.isoformat(),
             s.meter_start_wh, s.last_meter_wh, s.last_meter_at.isoformat(), s.reservation_id,
             s.max_power_w),
        )

    def meter_progress(self, connector_id: int, meter_wh: float, at: datetime, max_power_w: float) -> None:
        self._db.execute(
            "UPDATE active_session SET last_meter_wh=?, last_meter_at=?, max_power_w=? WHERE connector_id=?",
            (meter_wh, at.isoformat(), max_power_w, connector_id),
        )

    def session_ended(self, connector_id: int) -> None:
        self._db.execute("DELETE FROM active_session WHERE connector_id=?", (connector_id,))

    def interrupted_sessions(self) -> list[JournaledSession]:
        rows = self._db.execute(
            "SELECT connector_id, session_id, id_tag, parent_id_tag, started_at, meter_start_wh,"
            " last_meter_wh, last_meter_at, reservation_id, max_power_w FROM active_session"
            " ORDER BY connector_id"
        ).fetchall()
        return [
            JournaledSession(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5], r[6],
                             datetime.fromisoformat(r[7]), r[8], r[9])
            for r in rows
        ]

    def set_operative(self, connector_id: int, operative: bool) -> None:
        self._db.execute("INSERT OR REPLACE INTO availability VALUES (?,?)", (connector_id, int(operative)))

    def operative(self, connector_id: int) -> bool:
        row = self._db.execute("SELECT operative FROM availability WHERE connector_id=?",
                               (connector_id,)).fetchone()
        return True if row is None else bool(row[0])
