"""`chargepi commission` end to end on the fake HAL against the dev CSMS: every part, the OCPP
connection, and the report in text and JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tools.csms import DevCsms

REPO = Path(__file__).resolve().parents[2]


async def commission(config: Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware.cli.main", "commission", "--config", str(config), "--yes",
        "--rfid-timeout", "0", *extra, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\nserial_number = "CP-4711"\n'
                      f'[ocpp]\nurl = "{url}"\ncharge_point_id = "CP-4711"\n')
    return config


async def test_a_healthy_installation_passes_and_the_report_is_written(tmp_path: Path) -> None:
    async with DevCsms(log_stream=None) as csms:
        code, out = await commission(write_config(tmp_path, csms.url))
        booted = [r.payload for r in csms.received if r.action == "BootNotification"]
    assert code == 0, out
    assert out.splitlines()[0].startswith("1. configuration ") and "serial number CP-4711" in out
    assert "PASS  connector 1 contactor" in out and "PASS  boot" in out
    assert out.strip().endswith("RESULT: PASS")
    assert booted and booted[0]["chargePointSerialNumber"] == "CP-4711"
    reports = sorted((tmp_path / "commissioning").iterdir())
    assert [p.suffix for p in reports] == [".json", ".txt"]
    report = json.loads(reports[0].read_text())
    assert report["result"] == "PASS" and report["station"]["serial_number"] == "CP-4711"
    assert {c["name"] for c in report["hardware"]} >= {"connector 1 cp +12 V", "connector 1 cp -12 V",
                                                      "connector 1 contactor", "connector 1 rcd",
                                                      "connector 1 lock", "connector 1 meter"}
    assert [s["name"] for s in report["connection"]] == ["dns", "tcp", "upgrade", "boot"]
    text = reports[1].read_text()
    assert text.startswith("chargepi commissioning report: PASS")
    assert "OCPP connection to ws://127.0.0.1" in text


async def test_a_failing_step_fails_the_commissioning_and_is_named(tmp_path: Path) -> None:
    async with DevCsms(log_stream=None, boot_status="Rejected") as csms:
        code, out = await commission(write_config(tmp_path, csms.url), "--report-dir", str(tmp_path / "r"))
    assert code == 1
    assert "FAIL  boot" in out and "fix: the CSMS does not (yet) accept this charger" in out
    assert out.strip().endswith("RESULT: FAIL (failed: boot)")
    report = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert report["result"] == "FAIL"


async def test_standalone_skips_the_connection_test(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    code, out = await commission(config)
    assert code == 0, out
    assert "3. OCPP connection: none configured (standalone)" in out
