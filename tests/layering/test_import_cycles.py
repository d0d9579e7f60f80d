"""No import cycle among the `firmware/` modules, counting every import the layering checker sees (top
level, inside functions, under `TYPE_CHECKING`, `importlib.import_module("literal")`).

A cycle hidden behind `TYPE_CHECKING` is still a cycle in the design: two modules that each need the
other's whole shape. Pieces depend on narrow interfaces (Protocols, small objects passed in) instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layering import test_imports
from tests.layering.test_imports import _within, imports_under


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports (dotted names)."""
    graph: dict[str, set[str]] = {}
    for imp in imports_under(*(p.replace(".", "/") for p in packages)):
        graph.setdefault(imp.module, set())
        if imp.target != imp.module and any(_within(imp.target, p) for p in packages):
            graph[imp.module].add(imp.target)
    return graph


def import_cycles(*packages: str) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted; sorted."""
    graph = import_graph(*packages)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        # Iterative Tarjan: (node, iterator over its successors).
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def test_no_import_cycle_among_firmware_modules() -> None:
    assert import_cycles("firmware") == []


# --- the checker itself ------------------------------------------------------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_cycle_behind_type_checking_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_imports, "REPO", tmp_path)
    for package in ("firmware", "firmware/ocpp", "firmware/ocpp/v16"):
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "firmware/ocpp/v16/adapter.py",
           "from firmware.ocpp.v16.charge_point import ChargePoint\n")
    _write(tmp_path, "firmware/ocpp/v16/charge_point.py",
           "from firmware.ocpp.v16 import management\n")
    _write(tmp_path, "firmware/ocpp/v16/management.py", "from typing import TYPE_CHECKING\n"
                                                        "if TYPE_CHECKING:\n"
                                                        "    from firmware.ocpp.v16.adapter import A\n")
    _write(tmp_path, "firmware/ocpp/v16/leaf.py", "from firmware.ocpp.v16 import adapter\n")
    _write(tmp_path, "firmware/ocpp/common.py", "def f():\n    from firmware.ocpp import common\n")
    assert import_cycles("firmware") == [["firmware.ocpp.v16.adapter", "firmware.ocpp.v16.charge_point",
                                          "firmware.ocpp.v16.management"]]


def test_a_lazy_import_cycle_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_imports, "REPO", tmp_path)
    _write(tmp_path, "firmware/__init__.py", "")
    _write(tmp_path, "firmware/a.py", "def f():\n    import firmware.b\n")
    _write(tmp_path, "firmware/b.py", "import importlib\nimportlib.import_module('firmware.a')\n")
    assert import_cycles("firmware") == [["firmware.a", "firmware.b"]]
