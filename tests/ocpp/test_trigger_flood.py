"""A TriggerMessage flood against the real controller process: every trigger is answered (Accepted, or a
CALLERROR beyond the rate limit), and the process's memory comes back to where it was."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms

FLOOD = 2500


def trigger(uid: str, message: str = "MeterValues") -> str:
    return json.dumps([2, uid, "TriggerMessage", {"requestedMessage": message, "connectorId": 1}])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_memory_after_a_trigger_flood_returns_to_where_it_was(tmp_path: Path) -> None:
    csms = TestCsms()
    port = await csms.start()
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\nlog_level = "WARNING"\n'
                      f'[ocpp]\nurl = "ws://127.0.0.1:{port}/ocpp"\ncharge_point_id = "CP-FLOOD"\n'
                      "ping_interval_s = 0\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=dict(os.environ))
    sent = 0

    async def flood() -> None:
        nonlocal sent
        for _ in range(FLOOD):
            await csms.send_raw(trigger(f"t{sent}"))
            sent += 1
        last = f"t{sent - 1}"
        await eventually(lambda: csms.answers(last) != [], within=120)
        await asyncio.sleep(2)  # let what was accepted go out

    try:
        await eventually(lambda: csms.cp is not None and "StatusNotification" in csms.actions(), within=60)
        await flood()  # warm-up: caches (schemas, SQLite pages of the audit store) fill once
        before = rss_mib(process.pid)
        for _ in range(2):
            await flood()
        after = rss_mib(process.pid)
        assert process.returncode is None
        assert after - before < 5.0, f"RSS {before:.1f} MiB before, {after:.1f} MiB after the flood"
        answers = [csms.answers(f"t{i}")[0] for i in range(sent)]
        assert all(a[0] == 4 or a[2]["status"] == "Accepted" for a in answers)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await csms.stop()
