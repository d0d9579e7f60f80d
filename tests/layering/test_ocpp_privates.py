"""No module touches a private name of the `ocpp` library, except the one isolated override.

The library's private details chargepi relies on live in firmware/ocpp/common/ocpp_internals.py, pinned by
tests/ocpp/test_ocpp_internals.py (a library upgrade fails there). Everywhere else in firmware/, tools/
and tests/, parsed with `ast`: no override of a private `ChargePoint` method and no `self._name` of its
private attributes inside a subclass of the library's `ChargePoint`; no `x._name` of those attributes on
another object; no `_name` of anything imported from `ocpp` (`messages._get_schema`,
`ChargePoint._handle_call`, `from ocpp.x import _y`); no `patch("ocpp...._y")` target, no private
`ChargePoint` name as a string (`getattr`, `setattr`, `patch.object`); no route-map entry key and no
`ASYNC_VALIDATION`.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from ocpp.charge_point import ChargePoint

from firmware.ocpp.common import ocpp_internals

REPO = Path(__file__).resolve().parents[2]
ISOLATED = {REPO / "firmware" / "ocpp" / "common" / "ocpp_internals.py",
            REPO / "tests" / "ocpp" / "test_ocpp_internals.py", Path(__file__).resolve()}
ROUTE_KEYS = {ocpp_internals.ON, ocpp_internals.AFTER, ocpp_internals.SKIP_VALIDATION}
PRIVATE_TARGET = re.compile(r"^ocpp(\.\w+)*\._\w*")  # a patch target such as "ocpp.messages._get_schema"


def _library_private_names() -> set[str]:
    names = {n for n in dir(ChargePoint) if n.startswith("_") and not n.startswith("__")}
    return names | set(re.findall(r"self\.(_[a-z]\w*)\s*=", inspect.getsource(ChargePoint.__init__)))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _from_library(tree: ast.Module) -> tuple[set[str], list[str]]:
    """Names bound to something of the `ocpp` library, and the private names imported from it."""
    bound: set[str] = set()
    imported_private: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ocpp":
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                if _private(alias.name):
                    imported_private.append(f"{node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if a.name.split(".")[0] == "ocpp"}
    return bound, imported_private


def private_uses(path: Path, library_names: set[str]) -> list[str]:
    """Where `path` touches a private of the `ocpp` library (the rules in this module's docstring)."""
    tree = ast.parse(path.read_text())
    bound, found = _from_library(tree)
    bases = {"ChargePoint"} | {name for name in bound if name.endswith("ChargePoint")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and _private_constant(node.value, library_names):
            found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "ASYNC_VALIDATION":
            found.append(f"{node.lineno}: ASYNC_VALIDATION")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and not _is_self(node.value):
            if node.attr in library_names or _root_name(node.value) in bound:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in bases
                                                    for b in node.bases):
            found += [f"{f.lineno}: overrides {f.name}" for f in node.body
                      if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name in library_names]
            found += [f"{inner.lineno}: self.{inner.attr}" for inner in ast.walk(node)
                      if isinstance(inner, ast.Attribute) and _is_self(inner.value)
                      and inner.attr in library_names]
    return sorted(set(found))


def _private_constant(value: object, library_names: set[str]) -> bool:
    """A route-map entry key, a patch target such as "ocpp.messages._get_schema", or a private name of
    the library's `ChargePoint` as a string (`getattr(cp, "_connection")`, `setattr(Cp, "_send", f)`)."""
    return isinstance(value, str) and (value in ROUTE_KEYS | library_names
                                       or PRIVATE_TARGET.match(value) is not None)


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _root_name(node: ast.expr) -> str | None:
    """The name a plain dotted chain starts with (`messages` of `messages.x`); None past a call or index."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def test_no_module_but_the_isolated_one_touches_a_private_of_the_library() -> None:
    names = _library_private_names()
    assert {"_send", "_connection", "_response_queue", "_handle_call"} <= names  # the check sees them
    found = [f"{path.relative_to(REPO)}:{where}"
             for top in ("firmware", "tools", "tests") for path in sorted((REPO / top).rglob("*.py"))
             if path not in ISOLATED for where in private_uses(path, names)]
    assert found == []


def _uses_in(tmp_path: Path, source: str) -> list[str]:
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    return private_uses(sample, _library_private_names())


def test_the_check_catches_an_override_and_a_private_attribute(tmp_path: Path) -> None:
    assert _uses_in(tmp_path,
        "class CP(ChargePoint):\n"
        "    async def _send(self, m):\n        await self._connection.send(m)\n"
        "    def own(self):\n        self._response_queue.put_nowait(1)\n"
        "route = {'_on_action': f}\nmessages.ASYNC_VALIDATION = False\n") == [
        "2: overrides _send", "3: self._connection", "5: self._response_queue", "6: '_on_action'",
        "7: ASYNC_VALIDATION"]


def test_the_check_catches_privates_reached_from_outside(tmp_path: Path) -> None:
    assert _uses_in(tmp_path,
        "from ocpp import messages\nfrom ocpp.charge_point import ChargePoint as Cp, _x\n"
        "import ocpp.routing\n"
        "class Mine:\n    def _send(self):\n        self._connection = 1\n"
        "harness.csms.cp._connection.close()\n"
        "messages._get_schema('x')\nCp._handle_call\nocpp.routing._y\n"
        "patch('ocpp.charge_point._z')\nadapter._online\nmessages.validate_payload\n"
        "monkeypatch.setattr(Cp, '_send', f)\ngetattr(cp, '_connection')\n") == [
        "10: ocpp.routing._y", "11: 'ocpp.charge_point._z'", "14: '_send'", "15: '_connection'",
        "2: imports ocpp.charge_point._x",
        "7: harness.csms.cp._connection", "8: messages._get_schema", "9: Cp._handle_call"]
