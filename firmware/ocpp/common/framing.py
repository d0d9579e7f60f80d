"""OCPP-J framing for every OCPP version: each frame from the CSMS is parsed and checked here before a
handler sees it, and every answer of ours goes out through here.

* Every bad frame that is not a response gets a CALLERROR (message id "-1" when its own cannot be read; the
  `ocpp` library logs and drops invalid JSON and bad frames), frames nested deeper than MAX_JSON_DEPTH are
  refused before anything recurses into them, binary frames close the connection, a broken response to one
  of our CALLs fails that CALL at once (no response timeout), and a response never gets a CALLERROR.
* Per-action rate limit (firmware/ocpp/common/rate_limit.py): over it a CALL is refused, not queued.
* A CALL that passes is answered by firmware/ocpp/common/dispatch.py (schema check, handler, reply, @after
  hook). An action without a handler is NotSupported when the version knows it and NotImplemented when it
  does not (OCPP-J 1.6 §4.2.3 and 2.0.1 §4.3; the library answers the other way round).
* Error codes are named as OCPP-J 2.0.1 names them; `FrameRules.codes` respells them for a version that
  names them differently (1.6: FormationViolation, ProtocolError, ...).
* Every CALLERROR we answer is told to the version's `FrameWatch` (the InvalidMessages security event) and
  each CSMS command's answer is written to the audit trail.

`OcppJFraming` is a mixin placed before the library's `ChargePoint` in a version's charge point class; the
class sets `rules` and calls `_init_framing` from its `__init__`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType

from firmware.audit.trail import emit
from firmware.ocpp.common import ocpp_internals
from firmware.ocpp.common.dispatch import Validate, handle_call
from firmware.ocpp.common.rate_limit import CallRateLimit

log = logging.getLogger(__name__)

_LEADING_ID = re.compile(r'^\s*\[\s*(\d+)\s*,\s*"([^"\\]{1,36})"')
MAX_UNIQUE_ID = 36
UNREADABLE_ID = "-1"  # OCPP-J: the message id of a CALLERROR for a message whose own id cannot be read
# Deepest legitimate frame: a charging profile, 6 levels (1.6) or 7 (2.0.1, with customData); a deeply
# nested frame would otherwise end in RecursionError somewhere in parsing, case conversion or validation.
MAX_JSON_DEPTH = 32
CLOSE_UNSUPPORTED_DATA = 1003


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


@dataclass(frozen=True)
class FrameRules:
    """What differs between OCPP versions in the framing."""

    version: str  # the library's name of the version's schemas ("1.6", "2.0.1")
    known_actions: frozenset[str]  # every action of the version: without a handler it is NotSupported
    validate: Validate  # the schema check of a CSMS CALL, raising the version's OCPPError
    codes: Mapping[str, str]  # an OCPP-J 2.0.1 error code -> this version's spelling, where it differs
    # The code of a CALL whose JSON or Action cannot be read: RpcFrameworkError in 2.0.1 ("not a valid
    # RPC request", OCPP-J 2.0.1 §4.3); 1.6 has no such code and answers FormatViolation.
    unreadable_call: str = "RpcFrameworkError"


@dataclass(frozen=True)
class FrameContext:
    """What one connection's framing works with."""

    rate_limit: CallRateLimit
    frames: FrameWatch
    spawn: Callable[[Awaitable[Any], str], object]
    log_frames: bool  # log every answer of ours at INFO
    validate_replies: bool  # check our own replies against the schemas before sending (debugging)


class OcppJFraming:
    """The framing half of a version's charge point (a mixin before the library's `ChargePoint`)."""

    rules: FrameRules
    id: str
    route_map: dict[str, dict[str, Any]]

    def _init_framing(self, websocket: Any, context: FrameContext) -> None:
        self._websocket = websocket  # ours: the library's own reference (and its _send) are private
        self._framing = context
        self._audited: dict[str, tuple[str, Any]] = {}  # CSMS CALLs awaiting our answer (audit trail)
        context.rate_limit.know(self.route_map)

    def _call_error(self, unique_id: str, code: str, description: str) -> str:
        return json.dumps([MessageType.CallError, unique_id, self.rules.codes.get(code, code), description,
                           {}], separators=(",", ":"))

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Parse one frame; answer every malformed frame that is not a response with a CALLERROR.

        OCPP-J (2.0.1 edition 3 part 4 §4.2.3, which 1.6 chargers follow here): a CALL with invalid JSON
        or a wrong structure gets a CALLERROR, with message id "-1" when its id cannot be read; a broken
        response to one of our CALLs fails that CALL; a response never gets a CALLERROR. Binary frames
        end the connection with close code 1003 (RFC 6455 §7.4.1: data of a type the endpoint cannot
        accept; OCPP-J messages are UTF-8 text).
        """
        if isinstance(raw_msg, bytes):
            log.warning("the CSMS sent a binary websocket frame: closing the connection (OCPP-J is text)")
            self._framing.frames.invalid_message("binary websocket frame")
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
            await self._reply(self._call_error(UNREADABLE_ID, "RpcFrameworkError",
                                               "not an OCPP-J message array"))
            return
        kind = frame[0]
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
        if not isinstance(kind, int) or isinstance(kind, bool):
            await self._reply(self._call_error(unique_id or UNREADABLE_ID, "RpcFrameworkError",
                                               "MessageTypeId must be a number"))
            return
        if kind == MessageType.Call:
            await self._route_call(frame, unique_id, raw_msg)
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
            await super().route_message(raw_msg)  # type: ignore[misc]
        else:
            await self._reply(self._call_error(unique_id or UNREADABLE_ID, "MessageTypeNotSupported",
                                               f"MessageTypeId {kind} is not supported"))

    async def _unparsable(self, text: str, why: str) -> None:
        """A frame we could not parse: a CALLERROR for a CALL (id "-1" if unreadable), fail a response."""
        match = _LEADING_ID.match(text)
        if match and match.group(1) in ("3", "4"):
            await self._fail_pending(match.group(2), why)
            return
        unique_id = match.group(2) if match and match.group(1) == "2" else UNREADABLE_ID
        await self._reply(self._call_error(unique_id, self.rules.unreadable_call, why))

    async def _fail_pending(self, unique_id: str, why: str) -> None:
        """Turn a broken answer to our CALL into a CALLERROR for the waiting `call()` (no timeout): a
        well-formed CALLERROR with its id goes the library's public way to the waiting call."""
        log.warning("broken response to %s: %s", unique_id, why)
        await super().route_message(  # type: ignore[misc]
            self._call_error(unique_id, "FormatViolation", why))

    def _refusal(self, action: str, raw: str) -> tuple[str, str] | None:
        """(code, description) when the version refuses this well-formed CALL before parsing its payload
        (2.0.1: a frame over BytesPerMessage); None to go on."""
        return None

    def _refused(self, frame: list[Any], unique_id: str | None, raw: str) -> tuple[str, str, str] | None:
        """(message id, code, description) of the CALLERROR a CALL gets before its handler runs."""
        if unique_id is None:
            return UNREADABLE_ID, "RpcFrameworkError", "the MessageId must be a string"
        if len(unique_id) > MAX_UNIQUE_ID:
            return unique_id, "RpcFrameworkError", "unique id longer than 36 characters"
        if len(frame) != 4:
            return unique_id, "RpcFrameworkError", "a CALL has exactly 4 elements"
        if not isinstance(frame[2], str):
            return unique_id, self.rules.unreadable_call, "Action must be a string"
        if not isinstance(frame[3], dict):
            return unique_id, "FormatViolation", "Payload must be a JSON object"
        action = frame[2]
        limit = self._framing.rate_limit
        if not limit.allow(action):
            return unique_id, "GenericError", f"rate limit: {action} requests are answered {limit.describe()}"
        if ocpp_internals.on_handler(self.route_map.get(action, {})) is None:
            if action in self.rules.known_actions:
                return unique_id, "NotSupported", f"{action} is not supported"[:500]
            return unique_id, "NotImplemented", f"{action} is unknown"[:500]
        refused = self._refusal(action, raw)
        return None if refused is None else (unique_id, *refused)

    async def _route_call(self, frame: list[Any], unique_id: str | None, raw: str) -> None:
        refused = self._refused(frame, unique_id, raw)
        if refused is not None:
            await self._reply(self._call_error(*refused))
            return
        assert unique_id is not None
        action = frame[2]
        msg = Call(unique_id, action, frame[3])
        if len(self._audited) > 64:  # answers that never went out (the connection dropped)
            self._audited.clear()
        self._audited[unique_id] = (action, frame[3])
        try:
            await handle_call(self.route_map[action], msg, self._reply, self._framing.spawn,
                              self.rules.validate,
                              self.rules.version if self._framing.validate_replies else None)
        except OCPPError as error:
            cause = error.details.get("cause") if isinstance(error.details, dict) else None
            await self._reply(self._call_error(unique_id, error.code, str(cause or error.description)[:500]))

    async def _reply(self, message: str) -> None:
        """Send one of our answers (CALLRESULT, CALLERROR). Our CALLs go through the library's `call()`,
        which logs them itself when `log_frames` puts the "ocpp" logger at INFO."""
        if self._framing.log_frames:
            log.info("%s > %s", self.id, message)
        if message.startswith("[4,"):  # every CALLERROR we answer goes through here
            self._framing.frames.refused_call(message)
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
