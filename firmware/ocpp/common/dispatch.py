"""Answering one CSMS CALL: validate it, run its handler, send the reply, then start its @after hook.

This takes the place of the `ocpp` library's private `ChargePoint._handle_call`, built from the
library's public pieces (the route map `@on`/`@after` build, `ocpp.messages.validate_payload`,
`camel_to_snake_case`), so that the cost per message stays small (tools/bench/ocpp_load):
* what the CSMS sends is always schema-validated (unless its route says skip_schema_validation), by the
  version's own check (`Validate`: the library's `validate_payload` for 1.6, firmware.ocpp.v201.validation
  for 2.0.1, whose error codes differ);
* our own reply is not validated again before every send (in the library that was over half the CPU of a
  GetConfiguration). The handlers build replies from the library's typed call_result classes, and the
  test suite validates every reply on the CSMS side (the library's `call()` validates the answer it
  receives). `[ocpp] validate_replies = true` validates them in the charger as well, for debugging
  against a CSMS; a reply that fails is then answered with a CALLERROR instead, as the library did;
* the reply is serialised in one pass (firmware.ocpp.common.wire), and each handler's signature is inspected
  once, not on every call;
* an @after hook cannot kill the receive loop: an async hook runs as a logged task (`spawn`), a failing
  synchronous one is logged.
OCPPErrors (schema violations, or raised by a handler) propagate for the caller to answer as CALLERROR;
any other exception in a handler becomes InternalError.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import InternalError, OCPPError
from ocpp.messages import Call, CallResult, validate_payload

from firmware.ocpp.common import ocpp_internals
from firmware.ocpp.common.wire import payload

log = logging.getLogger(__name__)

Validate = Callable[[Call], Awaitable[None]]  # a CSMS CALL's schema check, raising OCPPError
_WANTS_UNIQUE_ID: dict[Any, bool] = {}  # handler function -> takes call_unique_id


def _invoke(handler: Callable[..., Any], kwargs: dict[str, Any], unique_id: str) -> Any:
    function = getattr(handler, "__func__", handler)
    wants = _WANTS_UNIQUE_ID.get(function)
    if wants is None:
        wants = _WANTS_UNIQUE_ID[function] = "call_unique_id" in inspect.signature(handler).parameters
    return handler(**kwargs, call_unique_id=unique_id) if wants else handler(**kwargs)


async def handle_call(route: dict[str, Any], msg: Call, send: Callable[[str], Awaitable[None]],
                      spawn: Callable[[Awaitable[Any], str], object], validate: Validate,
                      reply_version: str | None) -> None:
    """Answer `msg` with the handlers of its `route` (an entry of the library's route map); our reply
    is checked against the schemas of `reply_version` first when that is given (validate_replies)."""
    check = ocpp_internals.validates(route)
    if check:
        await validate(msg)
    kwargs = camel_to_snake_case(msg.payload)
    try:
        handler = ocpp_internals.on_handler(route)
        assert handler is not None  # the caller answers actions without one
        reply = _invoke(handler, kwargs, msg.unique_id)
        if inspect.isawaitable(reply):
            reply = await reply
    except OCPPError:
        raise
    except Exception:
        log.exception("the handler of %s failed", msg.action)
        raise InternalError(description="An unexpected error occurred.") from None
    result: CallResult = msg.create_call_result(payload(reply))
    if check and reply_version is not None:
        await validate_payload(result, reply_version)
    await send(result.to_json())
    hook = ocpp_internals.after_handler(route)
    if hook is None:
        return
    try:
        started = _invoke(hook, kwargs, msg.unique_id)
    except Exception:
        log.exception("the @after hook of %s failed", msg.action)
        return
    if inspect.isawaitable(started):
        spawn(started, f"ocpp-after-{msg.action}")
