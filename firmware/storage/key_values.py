"""A small table of text values by key in a state database: what the charger decided and must keep across
a restart (the security profile's history, which connection profile is retired, ...)."""

from __future__ import annotations

from firmware.storage.database import StateDatabase


class KeyValues:
    def __init__(self, db: StateDatabase, table: str) -> None:
        self._db = db
        self._table = table
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        row = self._db.execute(f"SELECT value FROM {self._table} WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str | None) -> None:
        """Keep `value` under `key`; None removes the key. Part of the caller's `with db:` if it has one."""
        if value is None:
            self._db.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,))
        else:
            self._db.execute(f"INSERT OR REPLACE INTO {self._table} (key, value) VALUES (?, ?)", (key, value))
