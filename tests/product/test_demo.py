"""`make demo` (tools/demo.py) plays its whole session to the end, in OCPP 1.6 (the default) and 2.0.1: the
real controller process, the dev CSMS and the technician CLI, as a user on a fresh machine runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "messages"), [
    ((), ("StartTransaction", "StopTransaction")),
    (("--ocpp", "2.0.1"), ("TransactionEvent", "connectorStatus")),
])
def test_the_demo_session_runs_to_its_end(args: tuple[str, ...], messages: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", "tools.demo", *args], capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SetChargingProfile -> Accepted" in done.stdout
    assert "pilot 16.67 %" in done.stdout  # the CSMS's 10 A limit on the PWM duty
    narration = [line for line in done.stdout.splitlines() if line.startswith("# ")]
    assert narration[-1].startswith("# Done: transaction") and narration[-1].endswith("reason Local.")
    for message in messages:
        assert message in done.stdout
