"""SQLite persistence of the installed charging profiles (they must survive a power cut)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from firmware.smart.profiles import ChargingProfile, profile_from_dict


class ProfileStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS profiles (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def load(self) -> list[ChargingProfile]:
        rows = self._db.execute("SELECT body FROM profiles ORDER BY id").fetchall()
        return [profile_from_dict(json.loads(body)) for (body,) in rows]

    def replace_all(self, profiles: Iterable[ChargingProfile]) -> None:
        rows = [(p.id, json.dumps(p.to_dict())) for p in profiles]
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM profiles")
            self._db.executemany("INSERT INTO profiles (id, body) VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()
