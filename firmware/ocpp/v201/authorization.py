"""OCPP 2.0.1 authorization (functional block C) as the core's Authorizer: Authorize (C01), the
authorization cache (C10-C12), the offline rules (C15), stopping by a token of the same group (C09) and
the master pass (C16: a token whose groupIdToken is AuthCtrlr.MasterPassGroupId stops every transaction,
stoppedReason MasterPass, and starts none; empty, the default, means no master pass).

Decision order for a presented token (docs/reference/ocpp201.md §13):
1. AuthCtrlr.Enabled false: every token is accepted and a plugged EV charges without one;
2. the local list (LocalAuthListCtrlr.Enabled) and then the cache (AuthCacheCtrlr.Enabled) are looked up;
   a valid (Accepted, not expired) entry decides at once when online with AuthCtrlr.LocalPreAuthorize, or
   offline with AuthCtrlr.LocalAuthorizeOffline;
3. online: AuthorizeRequest {idToken, type}; the idTokenInfo decides (status, groupIdToken, evseId) and
   fills the cache (expiry: cacheExpiryDateTime, else now + AuthCacheCtrlr.LifeTime);
4. offline, or no answer: a known token decides by its entry with LocalAuthorizeOffline; an unknown one is
   accepted with AuthCtrlr.OfflineTxForUnknownIdEnabled; else refused.
A TransactionEventResponse idTokenInfo updates the cache too. The list and the cache are the common store
(firmware/ocpp/common/auth_store.py); an entry in the local list is never cached. Whoever else cares about
an AuthorizeResponse (personal messages, tariffs) registers with `on_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.core.authorization import AuthResult, AuthStatus
from firmware.ocpp.common.auth_store import CACHE, AuthEntry, AuthStore, Token, without_answer
from firmware.ocpp.common.outbox import Row
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.delivery import Delivery201
from firmware.ocpp.v201.device_model.keys import AttributeKey
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

READER_TOKEN_TYPE = "ISO14443"  # the charger's reader: RFID cards (IdTokenEnumType)
CACHE_MAX = 1000  # entries; the least recently used go first (AuthCacheCtrlr.Policy LRU)
# AuthorizationStatusEnumType → the core's AuthStatus; the rest (NoCredit, NotAllowedTypeEVSE,
# NotAtThisLocation, NotAtThisTime, Unknown) refuse as Invalid, the wire value stays in the result's source.
STATUSES: dict[str, AuthStatus] = {
    "Accepted": AuthStatus.ACCEPTED,
    "Blocked": AuthStatus.BLOCKED,
    "ConcurrentTx": AuthStatus.CONCURRENT_TX,
    "Expired": AuthStatus.EXPIRED,
    "Invalid": AuthStatus.INVALID,
    "NoCredit": AuthStatus.INVALID,
    "NotAllowedTypeEVSE": AuthStatus.INVALID,
    "NotAtThisLocation": AuthStatus.INVALID,
    "NotAtThisTime": AuthStatus.INVALID,
    "Unknown": AuthStatus.INVALID,
}
AuthorizeAnswered = Callable[[dict[str, Any], Any], None]  # (the idToken sent, the AuthorizeResponse)


def entry_of(info: Mapping[str, Any], now: datetime, lifetime_s: int | None = None) -> AuthEntry:
    """An idTokenInfo (snake_case) in the store's terms; without cacheExpiryDateTime a cache entry lives
    `lifetime_s` (AuthCacheCtrlr.LifeTime) when given."""
    expiry = parse_ocpp_time(info.get("cache_expiry_date_time"))
    if expiry is None and lifetime_s is not None and lifetime_s > 0:
        expiry = now + timedelta(seconds=lifetime_s)
    group = info.get("group_id_token") or {}
    return AuthEntry(STATUSES.get(str(info.get("status")), AuthStatus.INVALID), expiry, group.get("id_token"))


class Authorization201:
    def __init__(self, station: StationApi, model: DeviceModel, db: StateDatabase, clock: Clock,
                 delivery: Delivery201, cp: Callable[[], ChargePoint201 | None], online: Callable[[], bool],
                 token_types: Mapping[str, str]) -> None:
        self.station = station
        self.model = model
        self.clock = clock
        self.store = AuthStore(db, CACHE_MAX)
        self._cp = cp
        self._online = online
        self._token_types = token_types  # tokens a CSMS named with their type; the reader's are RFID cards
        self._answered: list[AuthorizeAnswered] = []
        delivery.on_answer("TransactionEvent", self._transaction_answered)
        model.on_change(self._variable_changed)

    def install(self) -> None:
        """Become the station's authorizer; a plugged EV starts without a token only when AuthCtrlr is off."""
        self.station.set_authorizer(self, auto_start=not self.model.flag("AuthCtrlr.Enabled"))

    def on_answer(self, handler: AuthorizeAnswered) -> None:
        """Also give every AuthorizeResponse to `handler` (called in the order added; one that raises is
        logged and does not keep the others from the answer)."""
        self._answered.append(handler)

    async def online(self, cp: ChargePoint201) -> None:
        return None  # Authorize is sent when a token is presented

    def token(self, id_tag: str) -> Token:
        return Token(id_tag, self._token_types.get(id_tag, READER_TOKEN_TYPE))

    # --- Authorizer ----------------------------------------------------------------------------------
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        result = await self._decide(id_tag, connector_id)
        master = self.model.text("AuthCtrlr.MasterPassGroupId")
        if master and result.accepted and result.parent_id_tag == master:
            # C16: a token of the master pass group stops every transaction and starts none.
            return replace(result, master_pass=True, source=f"{result.source}, master pass")
        return result

    async def _decide(self, id_tag: str, connector_id: int) -> AuthResult:
        if not self.model.flag("AuthCtrlr.Enabled"):
            return AuthResult(True, source="AuthCtrlr.Enabled false")
        token = self.token(id_tag)
        online = self._online()
        local = self.store.lookup(token, use_list=self.model.flag("LocalAuthListCtrlr.Enabled"),
                                  use_cache=self.model.flag("AuthCacheCtrlr.Enabled"))
        offline_ok = self.model.flag("AuthCtrlr.LocalAuthorizeOffline")
        if local is not None and local.entry.valid_at(self.clock.now()) and (
                (online and self.model.flag("AuthCtrlr.LocalPreAuthorize")) or (not online and offline_ok)):
            if local.source == CACHE:
                self.store.touch(token)
            return self._result(local.entry, f"{local.source}, {'pre-authorized' if online else 'offline'}")
        if online:
            info = await self._ask(token)
            if info is not None:
                self.remember(token, info)
                result = self._result(entry_of(info, self.clock.now()), f"CSMS: {info.get('status')}")
                evses = info.get("evse_id")
                if result.accepted and evses and connector_id not in evses:
                    return AuthResult(False, AuthStatus.INVALID, result.parent_id_tag,
                                      f"CSMS: valid on EVSE {evses}, not on {connector_id}")
                return result
        return without_answer(local, self.clock.now(), online, offline_ok,
                              self.model.flag("AuthCtrlr.OfflineTxForUnknownIdEnabled"),
                              "OfflineTxForUnknownIdEnabled")

    async def _ask(self, token: Token) -> dict[str, Any] | None:
        cp = self._cp()
        if cp is None:
            return None
        id_token = {"id_token": token.text, "type": token.type}
        try:
            answer = await cp.call(call.Authorize(id_token=id_token), suppress=False)
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("Authorize failed, deciding offline: %s", exc)
            return None
        for handler in self._answered:
            try:
                handler(id_token, answer)
            except Exception:
                log.exception("handling an AuthorizeResponse failed")
        info: dict[str, Any] = answer.id_token_info
        return info

    def _result(self, entry: AuthEntry, source: str) -> AuthResult:
        return entry.result(self.clock.now(), source)

    # --- the cache (C10-C12) -------------------------------------------------------------------------
    def remember(self, token: Token, info: Mapping[str, Any]) -> None:
        """Store any idTokenInfo the CSMS sent, unless the cache is off or the token is in the local list."""
        if not self.model.flag("AuthCacheCtrlr.Enabled"):
            return
        if self.model.flag("LocalAuthListCtrlr.Enabled") and self.store.listed(token) is not None:
            return
        now = self.clock.now()
        self.store.remember(token, entry_of(info, now, self.model.integer("AuthCacheCtrlr.LifeTime")))

    def _transaction_answered(self, row: Row, answer: Any) -> None:
        token = row.payload.get("id_token")
        if token and answer.id_token_info:
            self.remember(Token(token["id_token"], token["type"]), answer.id_token_info)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs: Any) -> Any:
        """C11: Accepted once the cache is empty; Rejected while AuthCacheCtrlr.Enabled is false."""
        if not self.model.flag("AuthCacheCtrlr.Enabled"):
            return call_result.ClearCache(status="Rejected")
        self.store.clear_cache()
        return call_result.ClearCache(status="Accepted")

    def _variable_changed(self, key: AttributeKey, value: str) -> None:
        if key.text() == "AuthCtrlr.Enabled":
            self.install()
