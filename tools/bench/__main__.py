"""`make bench` / `python -m tools.bench`: run every benchmark one after the other with its defaults."""

from __future__ import annotations

import pkgutil
import runpy
import sys
from pathlib import Path

import tools.bench

NOT_BENCHMARKS = {"ocpp_loopback"}  # a helper module the benchmarks and tests share


def main() -> None:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(tools.bench.__file__).parent)])
                   if m.name not in NOT_BENCHMARKS and not m.name.startswith("_"))
    for name in names:
        print(f"\n=== tools.bench.{name}", flush=True)
        sys.argv = [f"tools.bench.{name}"]
        runpy.run_module(f"tools.bench.{name}", run_name="__main__")


if __name__ == "__main__":
    main()
