"""The `ocpp` library details chargepi relies on (firmware.ocpp.common.ocpp_internals) still hold.

These fail loudly on a library upgrade that changes them: check the details again (and
docs/reference/ocpp-libraries.md §1.5), then add the new version to CHECKED_VERSIONS.
tests/layering/test_ocpp_privates.py checks that no other module touches a private of the library.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any

from ocpp import messages
from ocpp.charge_point import ChargePoint
from ocpp.routing import after, create_route_map, on

from firmware.ocpp.common import ocpp_internals

REPO = Path(__file__).resolve().parents[2]


def test_the_installed_library_is_a_checked_version() -> None:
    assert importlib.metadata.version("ocpp") in ocpp_internals.CHECKED_VERSIONS


def test_routes_are_made_and_read_in_the_format_the_decorators_write() -> None:
    class Station(ChargePoint):  # type: ignore[misc]
        @on("Heartbeat")  # type: ignore[untyped-decorator]
        def heartbeat(self, **kwargs: Any) -> None: ...

        @after("Heartbeat")  # type: ignore[untyped-decorator]
        def heartbeat_done(self, **kwargs: Any) -> None: ...

        @on("Reset", skip_schema_validation=True)  # type: ignore[untyped-decorator]
        def reset(self, **kwargs: Any) -> None: ...

    station = Station("cp", connection=None)
    routes = create_route_map(station)
    assert routes == station.route_map
    heartbeat, reset = routes["Heartbeat"], routes["Reset"]
    assert ocpp_internals.on_handler(heartbeat) == station.heartbeat
    assert ocpp_internals.after_handler(heartbeat) == station.heartbeat_done
    assert ocpp_internals.validates(heartbeat) and not ocpp_internals.validates(reset)
    assert ocpp_internals.after_handler(reset) is None
    made = ocpp_internals.make_route(station.heartbeat, station.heartbeat_done)
    assert made == {key: heartbeat[key] for key in made}  # what the decorators write, key by key
    assert ocpp_internals.make_route(station.reset, None).keys() == {"_on_action", "_skip_schema_validation"}
    swapped = ocpp_internals.with_on_handler(reset, station.heartbeat)
    assert ocpp_internals.on_handler(swapped) == station.heartbeat and not ocpp_internals.validates(swapped)
    assert ocpp_internals.on_handler(reset) == station.reset  # the original route is left as it was


def test_the_library_reads_the_route_entries_under_these_names() -> None:
    source = inspect.getsource(ChargePoint._handle_call)
    for key in (ocpp_internals.ON, ocpp_internals.AFTER, ocpp_internals.SKIP_VALIDATION):
        assert f'"{key}"' in source, key


def test_in_line_validation_is_the_switch_validate_payload_reads() -> None:
    assert messages.ASYNC_VALIDATION is False  # set by importing ocpp_internals
    assert "ASYNC_VALIDATION" in inspect.getsource(messages.validate_payload)
    try:
        ocpp_internals.validate_in_thread_pool(True)
        assert messages.ASYNC_VALIDATION is True
    finally:
        ocpp_internals.validate_in_thread_pool(False)
    assert messages.ASYNC_VALIDATION is False


def test_the_connection_is_used_only_through_send_and_recv() -> None:
    """The charger holds its own reference to the websocket it hands the library; the library must not
    need more of it than `send` and `recv`."""
    source = inspect.getsource(ChargePoint)
    assert set(re.findall(r"self\._connection\.(\w+)", source)) == {"send", "recv"}
    assert list(inspect.signature(ChargePoint.__init__).parameters)[:3] == ["self", "id", "connection"]
