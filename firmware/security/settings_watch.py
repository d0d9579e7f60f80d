"""Noticing security settings that changed outside the protocol: a technician editing the configuration,
a new CA file, a replaced client certificate, a new firmware root or revocation list.

At each start the charger hands the current values of its security-relevant settings (`items`: name ->
bytes, None when absent) to `SettingsWatch.changed`, which compares them with those of the previous start
and returns the names that differ; the caller records them as one ReconfigurationOfSecurityParameters
security event. Only keyed digests are kept (HMAC-SHA256 under a random key stored next to them, in the
caller's private database), so the table says nothing about a password, not even whether two chargers
share one. Names that appear for the first time (the very first start, or a newer version watching more)
are not reported: there is nothing to compare them with.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from firmware.storage.database import StateDatabase


class SettingsWatch:
    def __init__(self, db: StateDatabase) -> None:
        self._db = db
        db.execute("CREATE TABLE IF NOT EXISTS security_settings_digest "
                   "(name TEXT PRIMARY KEY, digest TEXT NOT NULL)")
        row = db.execute("SELECT digest FROM security_settings_digest WHERE name = ''").fetchone()
        if row is None:
            key = os.urandom(32).hex()
            db.execute("INSERT INTO security_settings_digest (name, digest) VALUES ('', ?)", (key,))
        else:
            key = str(row[0])
        self._key = bytes.fromhex(key)

    def _digest(self, value: bytes | None) -> str:
        return "absent" if value is None else hmac.new(self._key, value, hashlib.sha256).hexdigest()

    def changed(self, items: Mapping[str, bytes | None]) -> list[str]:
        """The names whose value differs from the previous call's; the new digests are kept."""
        before = dict(self._db.execute("SELECT name, digest FROM security_settings_digest WHERE name != ''"))
        now = {name: self._digest(value) for name, value in items.items()}
        with self._db:
            for name, digest in now.items():
                self._db.execute("INSERT OR REPLACE INTO security_settings_digest (name, digest) "
                                 "VALUES (?, ?)", (name, digest))
        return sorted(name for name, digest in now.items() if name in before and before[name] != digest)


def file_content(path: Path | None) -> bytes | None:
    """A file's bytes for `changed` (None when not set or unreadable, which is a change too)."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def tree_content(paths: Iterable[Path]) -> bytes:
    """The names and bytes of every file in these files and directories (e.g. the firmware trust roots
    with their revocation lists), in a stable order."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
    return b"\0".join(str(f).encode() + b"\0" + (file_content(f) or b"") for f in files)
