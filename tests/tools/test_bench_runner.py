"""`make bench`'s runner: every module runs to the end and its figures land in one summary table."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tools.bench.__main__ import main

MODULES = {
    "alpha": """
        import sys
        from tools.bench.report import figure
        figure("alpha boot", 12.5, "ms", "n=3")
        sys.exit(0)  # a module ending with sys.exit must not end the run
    """,
    "beta": """
        import sys
        print("beta could not measure")
        sys.exit(3)
    """,
    "gamma": """
        from tools.bench.report import figure
        figure("gamma drain", 700, "messages/s")
    """,
}


@pytest.fixture
def bench_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in MODULES.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    root = Path(__file__).resolve().parents[2]  # the subprocesses import tools.bench.report from the repo
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{root}")
    sys.modules.pop("fakebench", None)
    return "fakebench"


def test_every_module_runs_and_every_figure_is_in_the_table(
        bench_package: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([], package=bench_package)
    out = capsys.readouterr().out
    summary = out[out.index("=== summary"):]
    assert "alpha boot" in summary and "12.5 ms" in summary and "n=3" in summary
    assert "gamma drain" in summary and "700 messages/s" in summary  # ran after alpha's sys.exit
    assert "FAILED (exit 3)" in summary and "failed: beta" in summary
    assert "machine:" in summary and "load average" in summary
    assert status == 1


def test_a_run_of_good_modules_exits_0(bench_package: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alpha", "gamma"], package=bench_package) == 0
    assert "failed" not in capsys.readouterr().out
