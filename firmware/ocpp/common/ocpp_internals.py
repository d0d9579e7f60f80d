"""The one module that relies on details of the `ocpp` library it does not document as its API.

Everything else uses the library's public API (`ChargePoint.call`, `route_message`, `start`, `route_map`,
`ocpp.routing.on/after`, `ocpp.messages.validate_payload`, the call/call_result classes). Two details
have no public hook (docs/reference/ocpp-libraries.md §1.5):

* the entries of `ChargePoint.route_map`: `@on`/`@after` write them and only the library's private
  `_handle_call` reads them; chargepi answers CALLs itself (firmware.ocpp.common.dispatch) and 1.6 adds routes
  at run time (`Extensions16.routes`, firmware/ocpp/v16/extensions.py), so it reads and writes them here;
* `ocpp.messages.ASYNC_VALIDATION`, the module switch between thread-pool and in-line validation: set
  to in-line validation when this module is imported (`validate_in_thread_pool`; tools/bench/smart_bench.py
  turns the library's default back on to measure it).

The test CSMS (tests/ocpp/csms.py) uses `with_on_handler` to slow one of its handlers down. Nothing
else in firmware/, tools/ or tests/ touches a private name of the library:
tests/layering/test_ocpp_privates.py fails if one does.

It sits in the common runtime so that every version package can use the same override rather than
grow its own; today only the 1.6 package imports it (the 2.0.1 package uses the public `route_map`,
`create_route_map` and the library's own dispatch).

tests/ocpp/test_ocpp_internals.py checks each against the installed library and pins the versions they
were checked on, so a library upgrade fails there, loudly, before anything misbehaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp import messages

CHECKED_VERSIONS = ("2.1.0",)  # `ocpp` releases the details below were checked on
ON, AFTER, SKIP_VALIDATION = "_on_action", "_after_action", "_skip_schema_validation"

Route = dict[str, Any]


def validate_in_thread_pool(enabled: bool) -> None:
    """Switch `validate_payload` between the library's thread pool (its default) and in-line validation."""
    messages.ASYNC_VALIDATION = enabled


# Validate in line: the thread-pool validation races and costs latency
# (docs/reference/ocpp-libraries.md §1.3).
validate_in_thread_pool(False)


def make_route(on_handler: Callable[..., Any], after_handler: Callable[..., Any] | None) -> Route:
    """A route map entry, as `@on(action)` (and `@after(action)`) on a method would make it."""
    route: Route = {ON: on_handler, SKIP_VALIDATION: False}
    if after_handler is not None:
        route[AFTER] = after_handler
    return route


def with_on_handler(route: Route, handler: Callable[..., Any]) -> Route:
    """`route` with its `@on` handler replaced by `handler` (its `@after` hook and validation kept)."""
    return {**route, ON: handler}


def on_handler(route: Route) -> Callable[..., Any] | None:
    return route.get(ON)


def after_handler(route: Route) -> Callable[..., Any] | None:
    return route.get(AFTER)


def validates(route: Route) -> bool:
    """False if the route was made with `@on(action, skip_schema_validation=True)`."""
    return not route.get(SKIP_VALIDATION, False)
