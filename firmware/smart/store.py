"""SQLite persistence of the installed charging profiles (they must survive a power cut).

An essential store of the state directory: it keeps working through a full disk and a corrupt file
(firmware/storage/).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from firmware.smart.profiles import ChargingProfile, profile_from_dict
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir


class ProfileStore:
    def __init__(self, path: Path, storage: StateDir | None = None) -> None:
        state = storage if storage is not None and storage.path == path.parent else StateDir(path.parent)
        self._db = StateDatabase(state, path.name, essential=True, synchronous="FULL",
                                 setup=lambda db: db.execute(
                                     "CREATE TABLE IF NOT EXISTS profiles (id INTEGER PRIMARY KEY, "
                                     "body TEXT NOT NULL)"))

    def load(self) -> list[ChargingProfile]:
        rows = self._db.execute("SELECT body FROM profiles ORDER BY id").fetchall()
        return [profile_from_dict(json.loads(body)) for (body,) in rows]

    def replace_all(self, profiles: Iterable[ChargingProfile]) -> None:
        rows = [(p.id, json.dumps(p.to_dict())) for p in profiles]
        with self._db:
            self._db.execute("DELETE FROM profiles")
            self._db.executemany("INSERT INTO profiles (id, body) VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()
