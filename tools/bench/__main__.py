"""`make bench` / `python -m tools.bench [NAME ...]`: run every benchmark to the end, then one summary table.

Each benchmark module under tools/bench/ runs in its own interpreter (`python -m tools.bench.<name>`, with
its defaults), one after the other, so a `sys.exit`, a crash or a timeout in one module never stops the
others and no module's imports or memory skew another's figures. Its own output is shown as it runs.

Convention for a benchmark module (how its figures reach the table):
* it is runnable as `python -m tools.bench.<name>` and exits 0 when it measured what it promises (non-zero
  or an exception when it could not: the runner then marks it FAILED and `make bench` exits 1);
* every figure it wants in the table it reports with `tools.bench.report.figure(name, value, unit, detail)`
  (`name` says what and under which conditions, `detail` the spread / n / p99 etc.); a module may print
  more lines for people, but only `figure()` calls reach the table;
* its defaults keep it to a few minutes on the dev machine (`make bench` should take minutes, not tens of
  minutes); longer runs go behind command-line options.
Helper modules that are not benchmarks are listed in HELPERS (or start with `_`).

The table starts with the machine (CPU model, cores, Python) and the load average before and after, since
the two cores are often shared; the figures in docs/figures.md are copied from this table.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.bench.report import FIGURES_ENV, Figure, read_figures

HELPERS = {"ocpp_loopback", "report"}  # modules the benchmarks and tests share
TIMEOUT_S = 1800.0  # per module; a hang is reported as a failure instead of stalling the whole run


@dataclass
class Outcome:
    name: str
    returncode: int | None  # None: timed out
    wall_s: float
    figures: list[Figure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def benchmark_names(package: str) -> list[str]:
    here = Path(str(importlib.import_module(package).__file__)).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if m.name not in HELPERS and not m.name.startswith("_"))


def run_one(package: str, name: str, scratch: Path) -> Outcome:
    figures_file = scratch / f"{name}.jsonl"
    env = {**os.environ, FIGURES_ENV: str(figures_file)}
    print(f"\n=== {package}.{name}", flush=True)
    started = time.perf_counter()
    try:
        returncode: int | None = subprocess.run([sys.executable, "-m", f"{package}.{name}"], env=env,
                                                timeout=TIMEOUT_S, check=False).returncode
    except subprocess.TimeoutExpired:
        returncode = None
    outcome = Outcome(name, returncode, time.perf_counter() - started, read_figures(figures_file))
    if not outcome.ok:
        why = f"timed out after {TIMEOUT_S:.0f} s" if returncode is None else f"exit status {returncode}"
        print(f"=== {package}.{name} FAILED ({why})", flush=True)
    return outcome


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def table(outcomes: list[Outcome]) -> list[str]:
    rows = [("benchmark", "figure", "value", "detail")]
    for o in outcomes:
        status = "" if o.ok else (" TIMED OUT" if o.returncode is None else f" FAILED (exit {o.returncode})")
        for f in o.figures:
            rows.append((o.name, f["name"], f"{f['value']:.4g} {f['unit']}", f["detail"]))
        rows.append((o.name, f"(module wall time{status})", f"{o.wall_s:.1f} s", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + " | " + r[3]
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def main(argv: list[str] | None = None, package: str = "tools.bench") -> int:
    names = benchmark_names(package)
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", metavar="NAME", help=f"run only these ({', '.join(names)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)}")
    chosen = args.only or names
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="cpbench-figures") as tmp:
        outcomes = [run_one(package, name, Path(tmp)) for name in chosen]
    print(f"\n=== summary\nmachine: {machine()}\nload average (1/5/15 min): before {load_before}, "
          f"after {load()}\n")
    print("\n".join(table(outcomes)))
    failed = [o.name for o in outcomes if not o.ok]
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
