"""The authorization cache and the local authorization list in SQLite, in neutral terms, for every OCPP
version: a token (its text and its type; OCPP 1.6 idTags have no type, stored as ""), what is known about
it (the core's AuthStatus, an expiry, a group token), the list's version, and the cache's size bound with
least-recently-used eviction. The rules of when to consult, fill or replace them belong to each version's
authorizer (firmware/ocpp/v16/auth.py, firmware/ocpp/v201/authorization.py).

Databases written before tokens had a type (tables `ocpp_local_list` / `ocpp_auth_cache`, keyed by the
1.6 idTag alone) are migrated at open: their rows keep their status, expiry and parent idTag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from firmware.core.authorization import AuthResult, AuthStatus
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.storage.database import StateDatabase

LIST = "local list"
CACHE = "authorization cache"

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS auth_local_list (
        token TEXT NOT NULL, token_type TEXT NOT NULL, status TEXT NOT NULL, expiry TEXT, group_token TEXT,
        PRIMARY KEY (token, token_type));
    CREATE TABLE IF NOT EXISTS auth_cache (
        token TEXT NOT NULL, token_type TEXT NOT NULL, status TEXT NOT NULL, expiry TEXT, group_token TEXT,
        used INTEGER NOT NULL, PRIMARY KEY (token, token_type));
    CREATE TABLE IF NOT EXISTS ocpp_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# The tables as they were before tokens had a type: (old table, new table, the columns to copy).
_LEGACY = (("ocpp_local_list", "auth_local_list", "id_tag, '', status, expiry, parent_id_tag"),
           ("ocpp_auth_cache", "auth_cache", "id_tag, '', status, expiry, parent_id_tag, used"))


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    type: str = ""  # the 2.0.1 IdTokenEnumType value (ISO14443, Central, ...); "" for a 1.6 idTag


@dataclass(frozen=True, slots=True)
class AuthEntry:
    """What the back end said about a token."""

    status: AuthStatus
    expiry: datetime | None = None
    group: str | None = None  # 1.6 parentIdTag, 2.0.1 groupIdToken.idToken

    def valid_at(self, now: datetime) -> bool:
        return self.status is AuthStatus.ACCEPTED and (self.expiry is None or self.expiry > now)

    def result(self, now: datetime, source: str) -> AuthResult:
        """The core's decision on this entry at `now`: an Accepted entry past its expiry is Expired."""
        accepted = self.valid_at(now)
        status = AuthStatus.EXPIRED if self.status is AuthStatus.ACCEPTED and not accepted else self.status
        return AuthResult(accepted, status, self.group, source)


@dataclass(frozen=True, slots=True)
class Stored:
    entry: AuthEntry
    source: str  # LIST or CACHE


def without_answer(local: Stored | None, now: datetime, online: bool, offline_ok: bool,
                   unknown_ok: bool, unknown_rule: str) -> AuthResult:
    """The decision when the CSMS gave none (offline, or no answer): a stored entry if the version's
    LocalAuthorizeOffline rule (`offline_ok`) allows it, an unknown token if its rule (`unknown_ok`, named
    `unknown_rule` for the audit trail) allows that, else Invalid."""
    if local is not None and offline_ok:
        return local.entry.result(now, f"{local.source}, offline")
    if local is None and unknown_ok:
        return AuthResult(True, AuthStatus.ACCEPTED, source=f"offline, {unknown_rule}")
    why = "no answer from the CSMS" if online else "offline"
    return AuthResult(False, AuthStatus.INVALID, source=f"{why}, not in the local list or cache")


def _status(text: str) -> AuthStatus:
    try:
        return AuthStatus(text)
    except ValueError:
        return AuthStatus.INVALID  # a value an older firmware stored unmapped: never accepted


def _entry(row: tuple[str, str | None, str | None]) -> AuthEntry:
    return AuthEntry(_status(row[0]), parse_ocpp_time(row[1]), row[2])


def _row(token: Token, entry: AuthEntry) -> tuple[str, str, str, str | None, str | None]:
    expiry = rfc3339(entry.expiry) if entry.expiry is not None else None
    return token.text, token.type, entry.status.value, expiry, entry.group


class AuthStore:
    def __init__(self, db: StateDatabase, cache_max: int) -> None:
        self._db = db
        self.cache_max = cache_max
        db.executescript(_SCHEMA)
        for old, new, columns in _LEGACY:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (old,)).fetchone():
                with db:
                    db.execute(f"INSERT OR IGNORE INTO {new} SELECT {columns} FROM {old}")
                    db.execute(f"DROP TABLE {old}")
        db.commit()

    # ---- local list ---------------------------------------------------------------------------------
    def listed(self, token: Token) -> AuthEntry | None:
        row = self._db.execute("SELECT status, expiry, group_token FROM auth_local_list "
                               "WHERE token = ? AND token_type = ?", (token.text, token.type)).fetchone()
        return _entry(row) if row is not None else None

    def list_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM auth_local_list").fetchone()[0])

    def stored_list_version(self) -> int:
        """The version of the last accepted update (0 if none was ever stored)."""
        row = self._db.execute("SELECT value FROM ocpp_meta WHERE name = 'local_list_version'").fetchone()
        return int(row[0]) if row else 0

    def update_list(self, version: int, full: bool, updates: Iterable[tuple[Token, AuthEntry | None]],
                    max_size: int) -> int | None:
        """Apply one update in one SQLite transaction (an entry None removes its token; `full` replaces the
        whole list first) and drop the cache entries of the tokens named. The new size, or None when the
        list would grow beyond `max_size` (then nothing changed)."""
        updates = list(updates)
        with self._db:
            if full:
                self._db.execute("DELETE FROM auth_local_list")
            for token, entry in updates:
                if entry is None:
                    self._db.execute("DELETE FROM auth_local_list WHERE token = ? AND token_type = ?",
                                     (token.text, token.type))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO auth_local_list "
                        "(token, token_type, status, expiry, group_token) VALUES (?, ?, ?, ?, ?)",
                        _row(token, entry))
            size = self.list_size()
            if size > max_size:
                self._db.rollback()
                return None
            self._db.execute("INSERT OR REPLACE INTO ocpp_meta (name, value) "
                             "VALUES ('local_list_version', ?)", (str(version),))
            # Entries in the list take priority: drop stale cache entries for them.
            self._db.executemany("DELETE FROM auth_cache WHERE token = ? AND token_type = ?",
                                 [(t.text, t.type) for t, _ in updates])
        return size

    # ---- cache --------------------------------------------------------------------------------------
    def cached(self, token: Token) -> AuthEntry | None:
        row = self._db.execute("SELECT status, expiry, group_token FROM auth_cache "
                               "WHERE token = ? AND token_type = ?", (token.text, token.type)).fetchone()
        return _entry(row) if row is not None else None

    def touch(self, token: Token) -> None:
        """The entry decided: it becomes the most recently used one."""
        with self._db:
            self._db.execute("UPDATE auth_cache SET used = (SELECT MAX(used) + 1 FROM auth_cache) "
                             "WHERE token = ? AND token_type = ?", (token.text, token.type))

    def remember(self, token: Token, entry: AuthEntry) -> None:
        """Store (or replace) the cache entry; beyond `cache_max` entries the least recently used go."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO auth_cache (token, token_type, status, expiry, group_token, used) "
                "VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(used), 0) + 1 FROM auth_cache))",
                _row(token, entry))
            self._db.execute("DELETE FROM auth_cache WHERE (token, token_type) NOT IN "
                             "(SELECT token, token_type FROM auth_cache ORDER BY used DESC LIMIT ?)",
                             (self.cache_max,))

    def forget(self, token: Token) -> bool:
        """Drop the cache entry of one token (a customer's data cleared); True if there was one."""
        with self._db:
            cursor = self._db.execute("DELETE FROM auth_cache WHERE token = ? AND token_type = ?",
                                      (token.text, token.type))
        return cursor.rowcount > 0

    def clear_cache(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM auth_cache")

    def cache_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM auth_cache").fetchone()[0])

    def lookup(self, token: Token, *, use_list: bool, use_cache: bool) -> Stored | None:
        """The list's entry for the token, else the cache's (each only where enabled)."""
        listed = self.listed(token) if use_list else None
        if listed is not None:
            return Stored(listed, LIST)
        cached = self.cached(token) if use_cache else None
        return Stored(cached, CACHE) if cached is not None else None
