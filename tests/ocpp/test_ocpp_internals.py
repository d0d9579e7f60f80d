"""The `ocpp` library details chargepi relies on (firmware.ocpp.v16.ocpp_internals) still hold.

These fail loudly on a library upgrade that changes them: check the details again (and
docs/reference/ocpp-libraries.md §1.5), then add the new version to CHECKED_VERSIONS.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any

from ocpp import messages
from ocpp.charge_point import ChargePoint
from ocpp.routing import after, create_route_map, on

from firmware.ocpp.v16 import ocpp_internals

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


def test_the_library_reads_the_route_entries_under_these_names() -> None:
    source = inspect.getsource(ChargePoint._handle_call)
    for key in (ocpp_internals.ON, ocpp_internals.AFTER, ocpp_internals.SKIP_VALIDATION):
        assert f'"{key}"' in source, key


def test_in_line_validation_is_the_switch_validate_payload_reads() -> None:
    assert messages.ASYNC_VALIDATION is False  # set by importing ocpp_internals
    assert "ASYNC_VALIDATION" in inspect.getsource(messages.validate_payload)


def test_the_connection_is_used_only_through_send_and_recv() -> None:
    """The charger holds its own reference to the websocket it hands the library; the library must not
    need more of it than `send` and `recv`."""
    source = inspect.getsource(ChargePoint)
    assert set(re.findall(r"self\._connection\.(\w+)", source)) == {"send", "recv"}
    assert list(inspect.signature(ChargePoint.__init__).parameters)[:3] == ["self", "id", "connection"]


def _library_private_names() -> set[str]:
    names = {n for n in dir(ChargePoint) if n.startswith("_") and not n.startswith("__")}
    return names | set(re.findall(r"self\.(_[a-z]\w*)\s*=", inspect.getsource(ChargePoint.__init__)))


def private_uses(path: Path, library_names: set[str]) -> list[str]:
    """Where `path` touches the library's privates: inside a subclass of the library's ChargePoint, an
    override of one of its private methods or a `self._name` of its private attributes; anywhere, a
    route entry key or ASYNC_VALIDATION."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in ROUTE_KEYS:
            found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "ASYNC_VALIDATION":
            found.append(f"{node.lineno}: ASYNC_VALIDATION")
        elif isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "ChargePoint" for b in node.bases):
            found += [f"{f.lineno}: overrides {f.name}" for f in node.body
                      if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name in library_names]
            found += [f"{inner.lineno}: self.{inner.attr}" for inner in ast.walk(node)
                      if isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name)
                      and inner.value.id == "self" and inner.attr in library_names]
    return sorted(found)


ROUTE_KEYS = {ocpp_internals.ON, ocpp_internals.AFTER, ocpp_internals.SKIP_VALIDATION}


def test_no_other_firmware_module_touches_a_private_of_the_library() -> None:
    names = _library_private_names()
    assert {"_send", "_connection", "_response_queue", "_handle_call"} <= names  # the check sees them
    here = REPO / "firmware" / "ocpp" / "v16" / "ocpp_internals.py"
    found = [f"{path.relative_to(REPO)}:{where}"
             for path in sorted((REPO / "firmware").rglob("*.py")) if path != here
             for where in private_uses(path, names)]
    assert found == []


def test_the_check_catches_an_override_and_a_private_attribute(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "class CP(ChargePoint):\n"
        "    async def _send(self, m):\n        await self._connection.send(m)\n"
        "    def own(self):\n        self._response_queue.put_nowait(1)\n"
        "route = {'_on_action': f}\nmessages.ASYNC_VALIDATION = False\n")
    assert private_uses(sample, _library_private_names()) == [
        "2: overrides _send", "3: self._connection", "5: self._response_queue", "6: '_on_action'",
        "7: ASYNC_VALIDATION"]
