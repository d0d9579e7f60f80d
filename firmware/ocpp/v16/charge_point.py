"""OCPP 1.6J charge-point handlers on top of the `ocpp` library, with the library's pitfalls fixed.

* `route_message` is overridden so that every bad frame that is not a response gets a CALLERROR (message
  id "-1" when its own cannot be read; the library logs and drops invalid JSON and bad frames), frames
  nested deeper than MAX_JSON_DEPTH are refused before anything recurses into them, binary frames close
  the connection, and CALLERRORs use the OCPP-J 1.6 spellings FormationViolation /
  OccurenceConstraintViolation (the library answers FormatViolation).
* Handlers only decide and answer; anything that sends a CALL afterwards runs in an `@after` hook that
  runs as a logged adapter task (a CALL inside `@on` would deadlock the receive loop). Validation, the
  handler and the reply are in firmware.ocpp.v16.dispatch (the library's `_handle_call` is not used).
* Only the library's public API is used; the route map's entry format is read and written through
  firmware.ocpp.common.ocpp_internals, the one module that knows it. The charger keeps its own reference to
  the websocket, sends its answers itself (`_reply`), and fails a pending CALL by routing a CALLERROR
  through the public `route_message`.
* Every handler takes `**kwargs` so optional fields never turn into InternalError.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType
from ocpp.routing import after as _after
from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from firmware.audit.trail import emit
from firmware.core.authorization import Reservation
from firmware.core.vocabulary import StopReason
from firmware.ocpp.common import ocpp_internals
from firmware.ocpp.common.rate_limit import CallRateLimit
from firmware.ocpp.v16.auth import LocalAuthorizer
from firmware.ocpp.v16.dispatch import handle_call
from firmware.ocpp.v16.remote import SmartChargingPort
from firmware.ocpp.v16.services import Services16
from firmware.ocpp.v16.smart_charging import SmartChargingHandlers

log = logging.getLogger(__name__)

# OCPP-J 1.6 §4.2.3 error codes, with the specification's own spellings (errata: keep them).
ERROR_CODE_1_6 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "MessageTypeNotSupported": "NotSupported",
    "RpcFrameworkError": "ProtocolError",
}
_LEADING_ID = re.compile(r'^\s*\[\s*(\d+)\s*,\s*"([^"\\]{1,36})"')
MAX_UNIQUE_ID = 36
UNREADABLE_ID = "-1"  # OCPP-J: the message id of a CALLERROR for a message whose own id cannot be read
# Deepest legitimate 1.6 frame: SetChargingProfile, 6 levels; a deeply nested frame would otherwise end
# in RecursionError somewhere in parsing, case conversion or schema validation.
MAX_JSON_DEPTH = 32
CLOSE_UNSUPPORTED_DATA = 1003
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
TRIGGERABLE = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
               "Heartbeat", "MeterValues", "StatusNotification")


F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.on` (the library ships no type hints)."""
    return cast(Callable[[F], F], _on(action))


def after(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.after`; the hook runs as a task after the answer was sent."""
    return cast(Callable[[F], F], _after(action))


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True if a parsed JSON value nests arrays/objects deeper than `limit` (iterative: no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


class FrameWatch(Protocol):
    """Who hears of frames that are not valid OCPP and of the CALLERRORs we answer (security events)."""

    def invalid_message(self, detail: str) -> None: ...

    def refused_call(self, frame: str) -> None: ...


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


def _call_error(unique_id: str, code: str, description: str) -> str:
    return json.dumps([MessageType.CallError, unique_id, ERROR_CODE_1_6.get(code, code), description, {}],
                      separators=(",", ":"))


class ChargePoint16(SmartChargingHandlers, ChargePoint):  # type: ignore[misc]
    def __init__(self, parts: ChargePointParts, connection: Any, response_timeout: float) -> None:
        services = parts.services
        super().__init__(services.settings.charge_point_id, connection, response_timeout=response_timeout)
        self._websocket = connection  # ours: the library's own reference is private
        self._parts = parts
        self._settings = services.settings
        self._station = services.station
        self._config = services.config
        self._clock = services.clock
        self._spawn = services.spawn
        self._authorizer = parts.authorizer
        self._rate_limit = parts.rate_limit
        self._frames = parts.frames
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
        self._audited: dict[str, tuple[str, Any]] = {}  # CSMS CALLs awaiting our answer (audit trail)
        self._remote_starts: dict[str, int] = {}  # accepted RemoteStartTransaction -> chosen connector
        self.used_ids: set[str] = set()  # unique ids of our queued CALLs on this connection
        for action, (on_handler, after_handler) in services.extensions.routes.items():
            if action in switched_off:
                continue
            self.route_map[action] = ocpp_internals.make_route(on_handler, after_handler)
        self._rate_limit.know(self.route_map)

    # ---- framing ------------------------------------------------------------------------------------
    async def route_message(self, raw_msg: str | bytes) -> None:
        """Parse one frame; answer every malformed frame that is not a response with a 1.6 CALLERROR.

        OCPP-J (2.0.1 edition 3 part 4 §4.2.3, which 1.6 chargers follow here): a CALL with invalid JSON
        or a wrong structure gets a CALLERROR, with message id "-1" when its id cannot be read; a broken
        response to one of our CALLs fails that CALL; a response never gets a CALLERROR. Binary frames
        end the connection with close code 1003 (RFC 6455 §7.4.1: data of a type the endpoint cannot
        accept; OCPP-J messages are UTF-8 text).
        """
        if isinstance(raw_msg, bytes):
            log.warning("the CSMS sent a binary websocket frame: closing the connection (OCPP-J is text)")
            self._frames.invalid_message("binary websocket frame")
            await self._websocket.close(CLOSE_UNSUPPORTED_DATA, "OCPP-J messages are text frames")
            return
        try:
            frame = json.loads(raw_msg)
            # Only a frame with that many brackets can nest that deep: most frames skip the walk.
            too_deep = raw_msg.count("[") + raw_msg.count("{") > MAX_JSON_DEPTH and nesting_exceeds(
                frame, MAX_JSON_DEPTH)
        except (ValueError, RecursionError) as exc:
            why = "Message is not valid JSON" if isinstance(exc, ValueError) else "JSON nested too deep"
            await self._unparsable(raw_msg, why)
            return
        if too_deep:
            await self._unparsable(raw_msg, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            return
        if not isinstance(frame, list) or not frame:
            await self._reply(_call_error(UNREADABLE_ID, "RpcFrameworkError", "not an OCPP-J message array"))
            return
        kind = frame[0]
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
        if not isinstance(kind, int) or isinstance(kind, bool):
            await self._reply(_call_error(unique_id or UNREADABLE_ID, "RpcFrameworkError",
                                         "MessageTypeId must be a number"))
            return
        if kind == MessageType.Call:
            await self._route_call(frame, unique_id)
        elif kind in (MessageType.CallResult, MessageType.CallError):
            if unique_id is None:
                log.warning("dropped a response without a unique id")
                return
            if kind == MessageType.CallResult and (len(frame) != 3 or not isinstance(frame[2], dict)):
                await self._fail_pending(unique_id, "malformed CALLRESULT")
                return
            if kind == MessageType.CallError and (len(frame) < 4 or not all(
                    isinstance(x, str) for x in frame[2:4])):
                await self._fail_pending(unique_id, "malformed CALLERROR")
                return
            await super().route_message(raw_msg)
        else:
            await self._reply(_call_error(unique_id or UNREADABLE_ID, "RpcFrameworkError",
                                         f"MessageTypeId {kind} is not valid"))

    async def _unparsable(self, text: str, why: str) -> None:
        """A frame we could not parse: a CALLERROR for a CALL (id "-1" if unreadable), fail a response."""
        match = _LEADING_ID.match(text)
        if match and match.group(1) in ("3", "4"):
            await self._fail_pending(match.group(2), why)
            return
        unique_id = match.group(2) if match and match.group(1) == "2" else UNREADABLE_ID
        await self._reply(_call_error(unique_id, "FormationViolation", why))

    async def _fail_pending(self, unique_id: str, why: str) -> None:
        """Turn a broken answer to our CALL into a CALLERROR for the waiting `call()` (no 30 s timeout):
        a well-formed CALLERROR with its id goes the library's public way to the waiting call."""
        log.warning("broken response to %s: %s", unique_id, why)
        await super().route_message(_call_error(unique_id, "FormationViolation", why))

    async def _route_call(self, frame: list[Any], unique_id: str | None) -> None:
        if unique_id is None:
            log.warning("dropped a CALL without a string unique id")
            return
        if len(unique_id) > MAX_UNIQUE_ID:
            await self._reply(_call_error(unique_id, "ProtocolError", "unique id longer than 36 characters"))
            return
        if len(frame) != 4:
            await self._reply(_call_error(unique_id, "ProtocolError", "a CALL has exactly 4 elements"))
            return
        if not isinstance(frame[2], str):
            await self._reply(_call_error(unique_id, "FormationViolation", "Action must be a string"))
            return
        if not isinstance(frame[3], dict):
            await self._reply(_call_error(unique_id, "FormationViolation", "Payload must be a JSON object"))
            return
        if not self._rate_limit.allow(frame[2]):
            await self._reply(_call_error(unique_id, "GenericError", f"rate limit: {frame[2]} requests "
                                         f"are answered {self._rate_limit.describe()}"))
            return
        if ocpp_internals.on_handler(self.route_map.get(frame[2], {})) is None:
            # OCPP-J 1.6 §4.2.3: NotImplemented = action not known; NotSupported = known, not supported
            # (the library answers the other way round).
            known = frame[2] in KNOWN_ACTIONS
            await self._reply(_call_error(unique_id, "NotSupported" if known else "NotImplemented",
                                         f"{frame[2]} is {'not supported' if known else 'unknown'}"[:500]))
            return
        msg = Call(unique_id, frame[2], frame[3])
        if len(self._audited) > 64:  # answers that never went out (the connection dropped)
            self._audited.clear()
        self._audited[unique_id] = (frame[2], frame[3])
        try:
            await handle_call(self.route_map[frame[2]], msg, self._reply, self._spawn,
                              self._settings.validate_replies)
        except OCPPError as error:
            cause = error.details.get("cause") if isinstance(error.details, dict) else None
            await self._reply(_call_error(unique_id, error.code, str(cause or error.description)[:500]))

    async def _reply(self, message: str) -> None:
        """Send one of our answers (CALLRESULT, CALLERROR). Our CALLs go through the library's `call()`,
        which logs them itself when `log_frames` puts the "ocpp" logger at INFO."""
        if self._settings.log_frames:
            log.info("%s > %s", self.id, message)
        if message.startswith("[4,"):  # every CALLERROR we answer goes through here
            self._frames.refused_call(message)
        if self._audited:
            self._audit_answer(message)
        await self._websocket.send(message)

    def _audit_answer(self, message: str) -> None:
        """An audit line for each CSMS command, once its answer goes out: what was asked, what we said."""
        try:
            frame = json.loads(message)
        except ValueError:
            return
        if not (isinstance(frame, list) and len(frame) >= 3 and frame[0] in (3, 4)):
            return
        request = self._audited.pop(frame[1], None)
        if request is None:
            return
        action, payload = request
        if frame[0] == MessageType.CallResult:
            answer = frame[2].get("status", "answered") if isinstance(frame[2], dict) else "answered"
        else:
            answer = f"CALLERROR {frame[2]}"
        emit("csms-command", f"CSMS sent {action}: {answer}", who="CSMS", command=action, params=payload,
             outcome=str(answer))

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
        handlers = self._parts.services.extensions.data_transfer.get(vendor_id)
        if handlers is None:
            return call_result.DataTransfer(status="UnknownVendorId")
        handler = handlers.get(message_id or "")
        if handler is None:
            return call_result.DataTransfer(status="UnknownMessageId")
        status, reply = handler(data)
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

