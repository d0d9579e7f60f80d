"""The layering rules, checked on the source tree's import graph (parsed with `ast`, nothing is imported).

Layers only look down: `hal/` never imports `firmware/`; an OCPP version package (`firmware/ocpp/v16`,
`firmware/ocpp/v201`, ...) never imports another, and outside the version packages only the version
selector (`firmware/ocpp/versions.py`, which builds adapters, and `firmware/ocpp/catalogue.py`, which
names each version's presets) imports one (so the common runtime, the settings and the config
editor never do); the charger's own language (`firmware/core`,
`firmware/smart`, `firmware/sessions`) never imports the `ocpp` library, `firmware.ocpp`, or a module named
for one OCPP version (`ocpp16`, `v201`, ...), and holds no such module itself. Every import
counts: at the top, inside functions, under `TYPE_CHECKING`, and `importlib.import_module("literal")`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION_PACKAGE = re.compile(r"^firmware\.ocpp\.(v\d+)(\.|$)")
VERSION_NAMED = re.compile(r"^(ocpp|v)\d+$")  # a module named for one OCPP version: ocpp16, v201, ...
NEUTRAL = ("firmware.core", "firmware.smart", "firmware.sessions")
# The version selector: versions builds the chosen version's adapter, catalogue names each version's presets.
SELECTOR = ("firmware.ocpp.versions", "firmware.ocpp.catalogue")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (for `from x import y`: x.y when that is a module, else x)
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} -> {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = REPO.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    if level == 0:
        return name or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path) -> Iterator[Import]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield Import(module, sub if _is_module(sub) else source, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(module, node.args[0].value, node.lineno)


def imports_under(*packages: str) -> list[Import]:
    found: list[Import] = []
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            found.extend(imports_of(path))
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def hal_to_firmware() -> list[str]:
    return [str(i) for i in imports_under("hal") if _within(i.target, "firmware")]


def version_to_version() -> list[str]:
    found = []
    for imp in imports_under("firmware/ocpp"):
        own, other = VERSION_PACKAGE.match(imp.module), VERSION_PACKAGE.match(imp.target)
        if own and other and own.group(1) != other.group(1):
            found.append(str(imp))
    return found


def version_outside_selector() -> list[str]:
    """Imports of a version package from a module that belongs to none, other than the selector."""
    return [str(i) for i in imports_under("firmware") if VERSION_PACKAGE.match(i.target)
            and not VERSION_PACKAGE.match(i.module) and i.module not in SELECTOR]


def _speaks_ocpp(name: str) -> bool:
    return (
        _within(name, "ocpp")
        or _within(name, "firmware.ocpp")
        or any(VERSION_NAMED.match(part) for part in name.split("."))
    )


def neutral_to_ocpp() -> list[str]:
    """Every import of OCPP from the neutral packages, and every module there named for an OCPP version."""
    folders = [p.replace(".", "/") for p in NEUTRAL]
    modules = [_module_name(path) for folder in folders for path in sorted((REPO / folder).rglob("*.py"))]
    found = [f"{m} (an OCPP version module)" for m in modules if _speaks_ocpp(m)]
    found += [f"{i.module} -> {i.target}" for i in imports_under(*folders) if _speaks_ocpp(i.target)]
    return sorted(set(found))


def test_hal_never_imports_firmware() -> None:
    assert hal_to_firmware() == []


def test_no_ocpp_version_package_imports_another() -> None:
    assert version_to_version() == []


def test_core_smart_and_sessions_never_reach_ocpp() -> None:
    assert neutral_to_ocpp() == []


def test_only_the_version_selector_imports_a_version_package() -> None:
    assert version_outside_selector() == []


# --- the checker itself: each rule catches what it is meant to ---------------------------------------


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    for package in ("hal", "firmware", "firmware/ocpp", "firmware/ocpp/v16", "firmware/ocpp/v201",
                    "firmware/core", "firmware/smart", "firmware/sessions"):
        _write(tmp_path, f"{package}/__init__.py", "")
    return tmp_path


@pytest.mark.parametrize(
    "source",
    [
        "from firmware.settings import Settings\n",
        "import firmware.clock\n",
        "def f():\n    from firmware import settings\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from firmware.x import Y\n",
        "import importlib\nimportlib.import_module('firmware.app')\n",
        "from .. import firmware\n",  # hal/pilot/x.py: `..` is hal, so this is hal.firmware: allowed
    ],
)
def test_any_kind_of_hal_import_of_firmware_is_caught(tree: Path, source: str) -> None:
    _write(tree, "hal/pilot/__init__.py", "")
    _write(tree, "hal/pilot/x.py", source)
    assert bool(hal_to_firmware()) is ("from .. import" not in source)


def test_a_version_package_importing_another_is_caught(tree: Path) -> None:
    _write(tree, "firmware/ocpp/v201/a.py", "from ..v16 import charge_point\nfrom ..common import rpc\n")
    _write(tree, "firmware/ocpp/v16/charge_point.py", "from firmware.ocpp.common import wire\n")
    assert version_to_version() == ["firmware.ocpp.v201.a:1 -> firmware.ocpp.v16.charge_point"]


def test_a_version_package_imported_outside_the_selector_is_caught(tree: Path) -> None:
    for package in ("firmware/ocpp/common",):
        _write(tree, f"{package}/__init__.py", "")
    _write(tree, "firmware/ocpp/common/outbox.py", "def f():\n    from firmware.ocpp.v16 import messages\n")
    _write(tree, "firmware/ocpp/settings.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                              "    from firmware.ocpp.v201.device_model import presets\n")
    _write(tree, "firmware/settings.py", "from firmware.ocpp import versions\n")
    _write(tree, "firmware/ocpp/versions.py", "def f():\n    from firmware.ocpp.v16 import adapter\n")
    _write(tree, "firmware/ocpp/v16/adapter.py", "from firmware.ocpp.v16 import messages\n")
    assert version_outside_selector() == ["firmware.ocpp.common.outbox:2 -> firmware.ocpp.v16",
                                          "firmware.ocpp.settings:3 -> firmware.ocpp.v201.device_model"]


def test_neutral_packages_importing_ocpp_are_caught(tree: Path) -> None:
    _write(tree, "firmware/smart/a.py", "from ocpp.v16.enums import Reason\nimport ocppish\n")
    _write(tree, "firmware/sessions/b.py", "from ..ocpp import wire\n")
    _write(tree, "firmware/core/c.py", "from firmware.ocpp.v16 import x\nfrom firmware.smart import a\n")
    _write(tree, "firmware/smart/ocpp16.py", "")
    _write(tree, "firmware/core/d.py", "from firmware.smart import ocpp16\n")
    assert neutral_to_ocpp() == [
        "firmware.core.c -> firmware.ocpp.v16",
        "firmware.core.d -> firmware.smart.ocpp16",
        "firmware.sessions.b -> firmware.ocpp",
        "firmware.smart.a -> ocpp.v16.enums",
        "firmware.smart.ocpp16 (an OCPP version module)",
    ]
