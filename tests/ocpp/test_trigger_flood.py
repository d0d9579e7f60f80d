"""A TriggerMessage flood: every trigger is answered at once, at most one triggered message of a kind is on
its way at a time, and the real controller's memory comes back to where it was."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms

FLOOD = 2500


def trigger(uid: str, message: str = "MeterValues") -> str:
    return json.dumps([2, uid, "TriggerMessage", {"requestedMessage": message, "connectorId": 1}])


def status_of(csms: TestCsms, uid: str) -> str:
    return str(csms.answers(uid)[0][2]["status"])


async def test_a_repeat_while_one_is_on_its_way_is_rejected_then_accepted_again(harness: Harness) -> None:
    await harness.start()
    await harness.settle()
    sent = len(harness.csms.calls("MeterValues"))
    await harness.csms.send_raw(trigger("a1"))
    await harness.csms.send_raw(trigger("a2"))
    await harness.csms.send_raw(trigger("h1", "Heartbeat"))  # another kind is independent
    await eventually(lambda: all(harness.csms.answers(u) for u in ("a1", "a2", "h1")))
    assert [status_of(harness.csms, u) for u in ("a1", "a2", "h1")] == ["Accepted", "Rejected", "Accepted"]
    await eventually(lambda: len(harness.csms.calls("MeterValues")) == sent + 1)
    await asyncio.sleep(0.05)
    await harness.csms.send_raw(trigger("a3"))
    await eventually(lambda: harness.csms.answers("a3") != [])
    assert status_of(harness.csms, "a3") == "Accepted"


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
        answered = [csms.answers(f"t{i}")[0][2]["status"] for i in range(sent)]
        assert answered.count("Accepted") >= 3 and set(answered) == {"Accepted", "Rejected"}
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await csms.stop()
