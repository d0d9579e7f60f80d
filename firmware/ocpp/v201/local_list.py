"""The OCPP 2.0.1 local authorization list (functional block D): SendLocalList (D01) and
GetLocalListVersion (D02) on the common store (firmware/ocpp/common/auth_store.py), which the authorizer
(firmware/ocpp/v201/authorization.py) consults before the cache.

Rules (docs/reference/ocpp201.md §13): Full replaces the list, Differential adds or replaces the entries
with an idTokenInfo and removes those without one; a Differential whose versionNumber is not above the
current version is VersionMismatch; more entries than LocalAuthListCtrlr.ItemsPerMessage, a token twice, or
a list beyond the maxLimit of LocalAuthListCtrlr.Entries is Failed, and so is any update while
LocalAuthListCtrlr.Enabled is false. A frame over LocalAuthListCtrlr.BytesPerMessage never gets here
(CALLERROR FormatViolation, firmware/ocpp/v201/charge_point.py). The version reads 0 while the list is
empty or switched off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.ocpp.common.auth_store import AuthStore, Token
from firmware.ocpp.v201.authorization import entry_of
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.device_model.keys import ComponentKey
from firmware.ocpp.v201.device_model.model import DeviceModel, Variable
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)


class LocalList201:
    def __init__(self, store: AuthStore, model: DeviceModel, clock: Clock) -> None:
        self.store = store
        self.model = model
        self.clock = clock
        entries = model.find(ComponentKey("LocalAuthListCtrlr"), "Entries", None)
        assert isinstance(entries, Variable) and entries.characteristics.max_limit is not None
        self.capacity = int(entries.characteristics.max_limit)

    async def online(self, cp: ChargePoint201) -> None:
        return None

    @property
    def version(self) -> int:
        if not self.model.flag("LocalAuthListCtrlr.Enabled") or self.store.list_size() == 0:
            return 0
        return self.store.stored_list_version()

    def update(self, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
        """The SendLocalListResponse status."""
        if not self.model.flag("LocalAuthListCtrlr.Enabled"):
            return "Failed"
        if len(entries) > self.model.integer("LocalAuthListCtrlr.ItemsPerMessage"):
            return "Failed"
        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        now = self.clock.now()
        updates = [(Token(e["id_token"]["id_token"], e["id_token"]["type"]),
                    entry_of(e["id_token_info"], now) if e.get("id_token_info") else None) for e in entries]
        if len({token for token, _ in updates}) != len(updates):
            return "Failed"
        size = self.store.update_list(version, update_type == "Full", updates, self.capacity)
        if size is None:
            return "Failed"
        log.info("local authorization list now version %d with %d entries", version, size)
        return "Accepted"

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **kwargs: Any) -> Any:
        status = self.update(version_number, update_type, local_authorization_list or [])
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.version)
