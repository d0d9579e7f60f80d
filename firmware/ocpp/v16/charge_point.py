"""OCPP 1.6J charge-point handlers on top of the `ocpp` library, with the library's pitfalls fixed.

* Frames are parsed, checked and answered by the common OCPP-J framing (firmware/ocpp/common/framing.py:
  a CALLERROR for every bad frame that is not a response, the rate limit, the audit trail); its CALLERRORs
  use the OCPP-J 1.6 spellings FormationViolation / OccurenceConstraintViolation (`ERROR_CODE_1_6`).
* Handlers only decide and answer; anything that sends a CALL afterwards runs in an `@after` hook that
  runs as a logged adapter task (a CALL inside `@on` would deadlock the receive loop). Validation, the
  handler and the reply are in firmware.ocpp.common.dispatch (the library's `_handle_call` is not used).
* Only the library's public API is used; the route map's entry format is read and written through
  firmware.ocpp.common.ocpp_internals, the one module that knows it. The charger keeps its own reference to
  the websocket, sends its answers itself (`_reply`), and fails a pending CALL by routing a CALLERROR
  through the public `route_message`.
* Every handler takes `**kwargs` so optional fields never turn into InternalError.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from ocpp.messages import Call, validate_payload
from ocpp.routing import after as _after
from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from firmware.core.authorization import Reservation
from firmware.core.vocabulary import StopReason
from firmware.ocpp.common import ocpp_internals
from firmware.ocpp.common.framing import FrameContext, FrameRules, FrameWatch, OcppJFraming
from firmware.ocpp.common.rate_limit import CallRateLimit
from firmware.ocpp.v16.auth import LocalAuthorizer
from firmware.ocpp.v16.remote import SmartChargingPort
from firmware.ocpp.v16.services import Services16
from firmware.ocpp.v16.smart_charging import SmartChargingHandlers

log = logging.getLogger(__name__)

# OCPP-J 1.6 §4.2.3 error codes, with the specification's own spellings (errata: keep them), for the
# OCPP-J 2.0.1 names the framing uses; 1.6 has no RpcFrameworkError nor MessageTypeNotSupported.
ERROR_CODE_1_6 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "MessageTypeNotSupported": "ProtocolError",
    "RpcFrameworkError": "ProtocolError",
}
SMART_CHARGING_ACTIONS = (Action.set_charging_profile, Action.clear_charging_profile,
                          Action.get_composite_schedule)
# The CSMS-initiated messages of each optional feature profile (OCPP 1.6 §3.1).
PROFILE_ACTIONS = {
    "LocalAuthListManagement": (Action.get_local_list_version, Action.send_local_list),
    "Reservation": (Action.reserve_now, Action.cancel_reservation),
    "RemoteTrigger": (Action.trigger_message,),
    "SmartCharging": SMART_CHARGING_ACTIONS,
    "FirmwareManagement": (Action.update_firmware, Action.get_diagnostics),
}
KNOWN_ACTIONS = frozenset(a.value for a in Action)


async def _validate(msg: Call) -> None:
    await validate_payload(msg, "1.6")


RULES = FrameRules("1.6", KNOWN_ACTIONS, _validate, ERROR_CODE_1_6, unreadable_call="FormatViolation")
TRIGGERABLE = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
               "Heartbeat", "MeterValues", "StatusNotification")


F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.on` (the library ships no type hints)."""
    return cast(Callable[[F], F], _on(action))


def after(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.after`; the hook runs as a task after the answer was sent."""
    return cast(Callable[[F], F], _after(action))


class RemoteActions(Protocol):
    """What RemoteStartTransaction and Reset act on (RemoteControl16)."""

    def claim_connector_for_remote_start(self, connector_id: int | None) -> int | None: ...

    def accept_remote_start_profile(self, connector_id: int | None, profile: dict[str, Any]) -> bool: ...

    def release_remote_start_claim(self, connector_id: int) -> None: ...

    async def run_remote_start(self, id_tag: str, connector_id: int) -> None: ...

    async def reset(self, hard: bool) -> None: ...


class TransactionLookup(Protocol):
    """The CSMS's transactionIds of the station's sessions (Transactions16)."""

    def active_transaction_id(self, connector_id: int) -> int | None: ...

    def connector_of_transaction(self, transaction_id: int) -> int | None: ...


@dataclass(frozen=True)
class ChargePointParts:
    """What the charge point's handlers work with, besides the runtime's shared services."""

    services: Services16
    authorizer: LocalAuthorizer
    rate_limit: CallRateLimit
    frames: FrameWatch
    remote: RemoteActions
    transactions: TransactionLookup
    send_triggered: Callable[[str, int | None], Awaitable[None]]
    registration: Callable[[], str]  # the last BootNotification.conf status
    reconnect: Callable[[], Awaitable[None]]
    smart_charging: SmartChargingPort | None
    switched_off: frozenset[str]  # feature profiles not offered: their actions are answered NotSupported


class ChargePoint16(OcppJFraming, SmartChargingHandlers, ChargePoint):  # type: ignore[misc]
    rules = RULES

    def __init__(self, parts: ChargePointParts, connection: Any, response_timeout: float) -> None:
        services = parts.services
        super().__init__(services.settings.charge_point_id, connection, response_timeout=response_timeout)
        self._parts = parts
        self._settings = services.settings
        self._station = services.station
        self._config = services.config
        self._clock = services.clock
        self._spawn = services.spawn
        self._authorizer = parts.authorizer
        self._remote = parts.remote
        self._transactions = parts.transactions
        if parts.smart_charging is not None:
            self.smart_charging = parts.smart_charging  # type: ignore[assignment]
        # A profile switched off (or, for smart charging, without a service) is answered NotSupported.
        switched_off = {action for profile in parts.switched_off
                        for action in PROFILE_ACTIONS.get(profile, ())}
        if parts.smart_charging is None:
            switched_off.update(SMART_CHARGING_ACTIONS)
        for action in switched_off:
            self.route_map.pop(action, None)
        self._accepted_calls: set[str] = set()
        self._remote_starts: dict[str, int] = {}  # accepted RemoteStartTransaction -> chosen connector
        self.used_ids: set[str] = set()  # unique ids of our queued CALLs on this connection
        for action, (on_handler, after_handler) in services.extensions.routes.items():
            if action in switched_off:
                continue
            self.route_map[action] = ocpp_internals.make_route(on_handler, after_handler)
        self._init_framing(connection, FrameContext(parts.rate_limit, parts.frames, services.spawn,
                                                    self._settings.log_frames,
                                                    self._settings.validate_replies))

    # ---- helpers ------------------------------------------------------------------------------------
    def active_transaction_id(self, connector_id: int) -> int | None:
        """For the smart-charging handlers: the OCPP transaction running on a connector."""
        return self._transactions.active_transaction_id(connector_id)

    def _connector_ok(self, connector_id: int, allow_zero: bool = False) -> bool:
        ids = self._station.connector_ids
        return connector_id in ids or (allow_zero and connector_id == 0)

    # ---- Core profile -------------------------------------------------------------------------------
    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **kwargs: Any) -> Any:
        if not self._connector_ok(connector_id, allow_zero=True):
            return call_result.ChangeAvailability(status="Rejected")
        result = self._station.set_available(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=result)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, call_unique_id: str, **kwargs: Any) -> Any:
        config = self._config
        before = config.get(key) if key in config.keys else None
        status = config.change(key, value)
        # A new password or security profile takes effect by connecting again (after this answer).
        if status == "Accepted" and (key == "AuthorizationKey" or (
                key == "SecurityProfile" and config.get(key) != before)):
            self._accepted_calls.add(call_unique_id)
        return call_result.ChangeConfiguration(status=status)

    @after(Action.change_configuration)
    async def after_change_configuration(self, key: str, call_unique_id: str, **kwargs: Any) -> None:
        if call_unique_id in self._accepted_calls:
            self._accepted_calls.discard(call_unique_id)
            await self._parts.reconnect()  # log in again with the new password or profile

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        known, unknown = self._config.report(key)
        return call_result.GetConfiguration(configuration_key=known or None, unknown_key=unknown or None)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs: Any) -> Any:
        ok = self._authorizer.clear_cache()
        return call_result.ClearCache(status="Accepted" if ok else "Rejected")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None,
                         **kwargs: Any) -> Any:
        status, reply = self._parts.services.extensions.data_transfer.answer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=reply)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, call_unique_id: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        remote = self._remote
        if self._parts.registration() != "Accepted":
            return call_result.RemoteStartTransaction(status="Rejected")  # §4.2.1: not while Pending
        if connector_id is not None and not self._connector_ok(connector_id):
            return call_result.RemoteStartTransaction(status="Rejected")  # incl. connectorId 0 (TC_027)
        # The connector is chosen now, so two requests without connectorId never claim the same one and
        # each chargingProfile is kept for the session it belongs to.
        chosen = remote.claim_connector_for_remote_start(connector_id)
        if chosen is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile is not None and not remote.accept_remote_start_profile(chosen, charging_profile):
            remote.release_remote_start_claim(chosen)
            return call_result.RemoteStartTransaction(status="Rejected")
        self._remote_starts[call_unique_id] = chosen
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag: str, call_unique_id: str, **kwargs: Any) -> None:
        # The library runs @after hooks whatever @on answered: act only on an accepted request.
        chosen = self._remote_starts.pop(call_unique_id, None)
        if chosen is not None:
            await self._remote.run_remote_start(id_tag, chosen)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> Any:
        connector_id = self._transactions.connector_of_transaction(transaction_id)
        if connector_id is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        ok = self._station.stop_session(connector_id, StopReason.REMOTE)
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str, **kwargs: Any) -> None:
        await self._remote.reset(hard=type == "Hard")

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int, **kwargs: Any) -> Any:
        if not self._connector_ok(connector_id):
            return call_result.UnlockConnector(status="NotSupported")
        # The core ends a running session before it unlocks, and leaves it alone when no lock is fitted.
        return call_result.UnlockConnector(status=await self._station.unlock(connector_id))

    # ---- Local auth list management -----------------------------------------------------------------
    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self._authorizer.list_version)

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **kwargs: Any) -> Any:
        status = self._authorizer.send_local_list(list_version, update_type, local_authorization_list)
        return call_result.SendLocalList(status=status)

    # ---- Reservation --------------------------------------------------------------------------------
    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None, **kwargs: Any) -> Any:
        if connector_id == 0 and not self._config.get_bool("ReserveConnectorZeroSupported"):
            return call_result.ReserveNow(status="Rejected")
        if not self._connector_ok(connector_id, allow_zero=True):
            return call_result.ReserveNow(status="Rejected")
        try:
            expiry = datetime.fromisoformat(expiry_date.replace("Z", "+00:00"))
            remaining = (expiry - self._clock.now()).total_seconds()
        except (ValueError, TypeError):
            return call_result.ReserveNow(status="Rejected")
        if remaining <= 0:
            return call_result.ReserveNow(status="Rejected")
        expires = self._clock.monotonic() + remaining
        reservation = Reservation(reservation_id, id_tag, parent_id_tag, expires)
        return call_result.ReserveNow(status=self._station.reserve(connector_id, reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        ok = self._station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    # ---- Remote trigger -----------------------------------------------------------------------------
    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None,
                           **kwargs: Any) -> Any:
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and not self._connector_ok(connector_id, allow_zero=True):
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None,
                                    **kwargs: Any) -> None:
        if requested_message in TRIGGERABLE and (
                connector_id is None or self._connector_ok(connector_id, allow_zero=True)):
            await self._parts.send_triggered(requested_message, connector_id)

