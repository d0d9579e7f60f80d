"""Commissioning on the real drivers: gpiozero mock pins, the emulated MCP3008 and a pymodbus meter."""

from __future__ import annotations

from pathlib import Path

from firmware.cli.commission_cmd import commission_run, write_report
from firmware.settings import Settings, load_settings
from hal.clock import Clock
from hal.contract import StationHardware
from hal.factory import build_station_hardware
from hal.selftest import SelfTestOptions
from tests.drivers.rig import hardware_rig
from tools.csms import DevCsms


async def test_commissioning_on_the_mocked_board(tmp_path: Path) -> None:
    async with hardware_rig() as rig, DevCsms(log_stream=None) as csms:
        settings = load_settings(None, station={"state_dir": str(tmp_path), "serial_number": "RIG-1"},
                                 connectors=[{"id": 1, "hal": rig.hal_config()}],
                                 ocpp={"url": csms.url, "charge_point_id": "RIG-1"})

        def build(s: Settings, clock: Clock) -> StationHardware:
            hardware, _ = build_station_hardware(s, clock)
            rig.attach_pilot(hardware.connectors[0].pilot)
            return hardware

        report = await commission_run(settings, None, SelfTestOptions(relay=True), True, build)
    failed = [c for c in report["hardware"] if not c["passed"]]
    assert failed == []
    checks = {c["name"]: c for c in report["hardware"]}
    assert "followed close and open" in checks["connector 1 contactor"]["detail"]
    assert checks["connector 1 meter"]["values"]["energy_wh"] == 100_000.0
    assert report["result"] == "PASS" and report["connection"][-1]["ok"]
    stem = write_report(report, tmp_path / "reports")
    assert stem.with_suffix(".txt").read_text().startswith("chargepi commissioning report: PASS")
