"""tools/check_unit.sh (run by `make test`): every shipped service must score 2.0 or better in the offline
`systemd-analyze security`, and every unit must pass `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What chargepi-update.service was before issue 13: a root oneshot without any sandbox (9.6 UNSAFE).
ROOT_ONESHOT = """[Unit]
Description=chargepi firmware update from the spool

[Service]
Type=oneshot
ExecStart=/opt/chargepi/current/bin/chargepi
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "tools").mkdir()
    shutil.copy(REPO / "tools/check_unit.sh", tmp_path / "tools/check_unit.sh")
    shutil.copytree(REPO / "systemd", tmp_path / "systemd")
    return tmp_path


def run(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(tree / "tools/check_unit.sh")], capture_output=True, text=True,
                          check=False)


def test_every_shipped_service_is_scored(tree: Path) -> None:
    done = run(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    for service in (REPO / "systemd").glob("*.service"):
        assert f"Overall exposure level for {service.name}" in done.stdout


def test_a_service_above_2_0_fails_the_check(tree: Path) -> None:
    (tree / "systemd/chargepi-extra.service").write_text(ROOT_ONESHOT)
    done = run(tree)
    assert done.returncode == 1
    assert "chargepi-extra.service: exposure is worse than 2.0" in done.stderr
    assert "UNSAFE" in done.stdout
