"""How a benchmark module reports its figures: `figure(...)` prints one line and records it for the table.

Run on its own (`python -m tools.bench.<name>`) a module just prints. Run by `make bench`, the runner sets
`CHARGEPI_BENCH_FIGURES` to a file; each `figure()` call appends one JSON line to it, and the runner puts
every recorded figure of every module into one summary table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypedDict

FIGURES_ENV = "CHARGEPI_BENCH_FIGURES"


class Figure(TypedDict):
    name: str
    value: float
    unit: str
    detail: str


def figure(name: str, value: float, unit: str, detail: str = "") -> None:
    """Report one figure: `name` says what was measured (with its conditions), `detail` the spread or n."""
    print(f"  {name}: {value:.4g} {unit}" + (f"  ({detail})" if detail else ""), flush=True)
    target = os.environ.get(FIGURES_ENV)
    if target:
        entry = Figure(name=name, value=float(value), unit=unit, detail=detail)
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def installed_env() -> dict[str, str]:
    """The environment for a measured charger or CLI process: as on an installed charger, Python may use
    and write compiled bytecode (__pycache__), even if this shell sets PYTHONDONTWRITEBYTECODE. Measure
    after one untimed warm-up run, so that the bytecode exists."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def read_figures(path: Path) -> list[Figure]:
    """The figures a module recorded (none if it recorded nothing)."""
    if not path.exists():
        return []
    figures: list[Figure] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line:
            raw = json.loads(line)
            figures.append(Figure(name=str(raw["name"]), value=float(raw["value"]), unit=str(raw["unit"]),
                                  detail=str(raw["detail"])))
    return figures
