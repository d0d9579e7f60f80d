"""Local authorization for OCPP 1.6: authorization cache, local authorization list, online Authorize.

Implements `firmware.core.authorization.Authorizer`. Decision order (OCPP 1.6 §3.5, §5.15):
local list, then cache (immediately when LocalPreAuthorize, or when offline and LocalAuthorizeOffline),
then Authorize.req to the CSMS, then the offline rules (AllowOfflineTxForUnknownId).
Both the list (with its version) and the cache live in the common SQLite store
(firmware/ocpp/common/auth_store.py) and survive restarts; a 1.6 idTag is a token without a type.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from firmware.core.authorization import AuthResult
from firmware.ocpp.common.auth_store import AuthEntry, AuthStore, Stored, Token, without_answer
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


def entry_of(info: dict[str, Any]) -> AuthEntry:
    """An idTagInfo (snake_case) in the store's terms."""
    return AuthEntry(auth_status(info.get("status", "Invalid")), parse_ocpp_time(info.get("expiry_date")),
                     info.get("parent_id_tag"))


class LocalAuthorizer:
    def __init__(self, db: StateDatabase, config: ConfigurationStore, clock: Clock,
                 online_authorize: OnlineAuthorize, is_online: Callable[[], bool]) -> None:
        self._config = config
        self._clock = clock
        self._online_authorize = online_authorize
        self._is_online = is_online
        self.store = AuthStore(db, CACHE_MAX)

    # ---- Authorizer ---------------------------------------------------------------------------------
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        online = self._is_online()
        local = self._lookup(id_tag)
        if local is not None and local.entry.valid_at(self._clock.now()) and (
                (online and self._config.get_bool("LocalPreAuthorize"))
                or (not online and self._config.get_bool("LocalAuthorizeOffline"))):
            return self._result(local.entry, f"{local.source}, {'pre-authorized' if online else 'offline'}")
        if online:
            info = await self._online_authorize(id_tag)
            if info is not None:
                self.remember(id_tag, info)
                return self._result(entry_of(info), "CSMS")
        config = self._config
        return without_answer(local, self._clock.now(), online, config.get_bool("LocalAuthorizeOffline"),
                              config.get_bool("AllowOfflineTxForUnknownId"), "AllowOfflineTxForUnknownId")

    def _lookup(self, id_tag: str) -> Stored | None:
        return self.store.lookup(Token(id_tag), use_list=self._config.get_bool("LocalAuthListEnabled"),
                                 use_cache=self._config.get_bool("AuthorizationCacheEnabled"))

    def _result(self, entry: AuthEntry, source: str) -> AuthResult:
        return entry.result(self._clock.now(), source)

    # ---- cache --------------------------------------------------------------------------------------
    def remember(self, id_tag: str, info: dict[str, Any]) -> None:
        """Update the cache from any idTagInfo the CSMS sent (Authorize, Start/StopTransaction)."""
        if not self._config.get_bool("AuthorizationCacheEnabled"):
            return
        if self._config.get_bool("LocalAuthListEnabled") and self.store.listed(Token(id_tag)) is not None:
            return  # the local list has priority over the cache (1.6 §3.5.3)
        self.store.remember(Token(id_tag), entry_of(info))

    def clear_cache(self) -> bool:
        self.store.clear_cache()
        return True

    def cache_size(self) -> int:
        return self.store.cache_size()

    # ---- local list ---------------------------------------------------------------------------------
    @property
    def list_version(self) -> int:
        if not self._config.get_bool("LocalAuthListEnabled"):
            return -1
        if self.list_size() == 0:
            return 0  # OCPP 1.6 §5.10: version 0 means the list is empty
        return self.store.stored_list_version()

    def list_size(self) -> int:
        return self.store.list_size()

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
        updates = [(Token(e["id_tag"]), entry_of(e["id_tag_info"]) if e.get("id_tag_info") is not None
                    else None) for e in entries]
        size = self.store.update_list(list_version, update_type == "Full", updates,
                                      self._config.get_int("LocalAuthListMaxLength"))
        if size is None:
            return "Failed"
        log.info("local authorization list now version %d with %d entries", list_version, size)
        return "Accepted"
