"""Local authorization for OCPP 1.6: authorization cache, local authorization list, online Authorize.

Implements `firmware.core.authorization.Authorizer`. Decision order (OCPP 1.6 §3.5, §5.15):
local list, then cache (immediately when LocalPreAuthorize, or when offline and LocalAuthorizeOffline),
then Authorize.req to the CSMS, then the offline rules (AllowOfflineTxForUnknownId).
Both the list (with its version) and the cache live in SQLite and survive restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from firmware.core.authorization import AuthResult, AuthStatus
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.v16.vocabulary import auth_status
from firmware.storage.database import StateDatabase
from hal.clock import Clock

log = logging.getLogger(__name__)

CACHE_MAX = 1000
# Asks the CSMS; returns the idTagInfo dict (snake_case) or None when offline / no answer.
OnlineAuthorize = Callable[[str], Awaitable[dict[str, Any] | None]]
SendListStatus = Literal["Accepted", "Failed", "NotSupported", "VersionMismatch"]



class LocalAuthorizer:
    def __init__(self, db: StateDatabase, config: ConfigurationStore, clock: Clock,
                 online_authorize: OnlineAuthorize, is_online: Callable[[], bool]) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._online_authorize = online_authorize
        self._is_online = is_online
        db.executescript("""
            CREATE TABLE IF NOT EXISTS ocpp_local_list (
                id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry TEXT, parent_id_tag TEXT);
            CREATE TABLE IF NOT EXISTS ocpp_auth_cache (
                id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry TEXT, parent_id_tag TEXT,
                used INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS ocpp_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        """)
        db.commit()

    # ---- Authorizer ---------------------------------------------------------------------------------
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        online = self._is_online()
        local = self._lookup(id_tag)
        if local is not None and self._valid(local) and (
                (online and self._config.get_bool("LocalPreAuthorize"))
                or (not online and self._config.get_bool("LocalAuthorizeOffline"))):
            return self._result(local, f"{local['source']}, {'pre-authorized' if online else 'offline'}")
        if online:
            info = await self._online_authorize(id_tag)
            if info is not None:
                self.remember(id_tag, info)
                return self._result(info, "CSMS")
        if local is not None and self._config.get_bool("LocalAuthorizeOffline"):
            return self._result(local, f"{local['source']}, offline")
        if local is None and self._config.get_bool("AllowOfflineTxForUnknownId"):
            return AuthResult(True, AuthStatus.ACCEPTED, source="offline, AllowOfflineTxForUnknownId")
        why = "no answer from the CSMS" if online else "offline"
        return AuthResult(False, AuthStatus.INVALID, source=f"{why}, not in the local list or cache")

    def _lookup(self, id_tag: str) -> dict[str, Any] | None:
        if self._config.get_bool("LocalAuthListEnabled"):
            row = self._db.execute("SELECT status, expiry, parent_id_tag FROM ocpp_local_list "
                                   "WHERE id_tag = ?", (id_tag,)).fetchone()
            if row is not None:
                return {"status": row[0], "expiry_date": row[1], "parent_id_tag": row[2],
                        "source": "local list"}
        if self._config.get_bool("AuthorizationCacheEnabled"):
            row = self._db.execute("SELECT status, expiry, parent_id_tag FROM ocpp_auth_cache "
                                   "WHERE id_tag = ?", (id_tag,)).fetchone()
            if row is not None:
                return {"status": row[0], "expiry_date": row[1], "parent_id_tag": row[2],
                        "source": "authorization cache"}
        return None

    def _valid(self, info: dict[str, Any]) -> bool:
        if info.get("status") != "Accepted":
            return False
        expiry = parse_ocpp_time(info.get("expiry_date"))
        return expiry is None or expiry > self._clock.now()

    def _result(self, info: dict[str, Any], source: str) -> AuthResult:
        status = auth_status(info.get("status", "Invalid"))
        accepted = status is AuthStatus.ACCEPTED and self._valid(info)
        if status is AuthStatus.ACCEPTED and not accepted:
            status = AuthStatus.EXPIRED
        return AuthResult(accepted, status, info.get("parent_id_tag"), source)

    # ---- cache --------------------------------------------------------------------------------------
    def remember(self, id_tag: str, info: dict[str, Any]) -> None:
        """Update the cache from any idTagInfo the CSMS sent (Authorize, Start/StopTransaction)."""
        if not self._config.get_bool("AuthorizationCacheEnabled"):
            return
        if self._config.get_bool("LocalAuthListEnabled") and self._db.execute(
                "SELECT 1 FROM ocpp_local_list WHERE id_tag = ?", (id_tag,)).fetchone():
            return  # the local list has priority over the cache (1.6 §3.5.3)
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO ocpp_auth_cache (id_tag, status, expiry, parent_id_tag, used) "
                "VALUES (?, ?, ?, ?, ?)",
                (id_tag, str(info.get("status", "Invalid")), info.get("expiry_date"),
                 info.get("parent_id_tag"), self._next_use()))
            self._db.execute("DELETE FROM ocpp_auth_cache WHERE id_tag NOT IN "
                             "(SELECT id_tag FROM ocpp_auth_cache ORDER BY used DESC LIMIT ?)", (CACHE_MAX,))

    def _next_use(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(used), 0) + 1 FROM ocpp_auth_cache").fetchone()
        return int(row[0])

    def clear_cache(self) -> bool:
        with self._db:
            self._db.execute("DELETE FROM ocpp_auth_cache")
        return True

    def cache_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_auth_cache").fetchone()[0])

    # ---- local list ---------------------------------------------------------------------------------
    @property
    def list_version(self) -> int:
        if not self._config.get_bool("LocalAuthListEnabled"):
            return -1
        if self.list_size() == 0:
            return 0  # OCPP 1.6 §5.10: version 0 means the list is empty
        row = self._db.execute("SELECT value FROM ocpp_meta WHERE name = 'local_list_version'").fetchone()
        return int(row[0]) if row else 0

    def list_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_local_list").fetchone()[0])

    def send_local_list(self, list_version: int, update_type: str,
                        entries: list[dict[str, Any]] | None) -> SendListStatus:
        if not self._config.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        entries = entries or []
        if len(entries) > self._config.get_int("SendLocalListMaxLength"):
            return "Failed"
        current = self.list_version
        if update_type == "Differential" and list_version <= current:
            return "VersionMismatch"
        tags = [e["id_tag"] for e in entries]
        if len(set(tags)) != len(tags):
            return "Failed"
        with self._db:
            if update_type == "Full":
                self._db.execute("DELETE FROM ocpp_local_list")
            for entry in entries:
                info = entry.get("id_tag_info")
                if info is None:
                    self._db.execute("DELETE FROM ocpp_local_list WHERE id_tag = ?", (entry["id_tag"],))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO ocpp_local_list (id_tag, status, expiry, parent_id_tag) "
                        "VALUES (?, ?, ?, ?)",
                        (entry["id_tag"], info["status"], info.get("expiry_date"), info.get("parent_id_tag")))
            size = int(self._db.execute("SELECT COUNT(*) FROM ocpp_local_list").fetchone()[0])
            if size > self._config.get_int("LocalAuthListMaxLength"):
                self._db.rollback()
                return "Failed"
            self._db.execute(
                "INSERT OR REPLACE INTO ocpp_meta (name, value) VALUES ('local_list_version', ?)",
                (str(list_version),))
            # Entries in the list take priority: drop stale cache entries for them.
            self._db.executemany("DELETE FROM ocpp_auth_cache WHERE id_tag = ?", [(t,) for t in tags])
        log.info("local authorization list now version %d with %d entries", list_version, size)
        return "Accepted"
