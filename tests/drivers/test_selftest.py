"""`chargepi selftest` on the mocked board and on the fake HAL, its refusal while the controller runs
or charges, and `chargepi meter scan` against emulated meters."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest

from firmware.cli.common import EXIT_FAILED, EXIT_NO_CONTROLLER
from firmware.cli.main import build_parser, main
from firmware.cli.meter_cmd import scan_command
from firmware.cli.selftest_cmd import controller_busy
from firmware.core.published import status_label
from firmware.settings import load_settings
from hal.clock import RealClock
from hal.factory import build_station_hardware
from hal.meters.registermap import builtin_maps
from hal.selftest import Check, SelfTestOptions, run_selftest
from tests.drivers.meter_emulator import EmulatedMeter, free_port, start_tcp_server
from tests.drivers.rig import COIL, MIRROR, hardware_rig


async def run_on_rig(tmp_path: Path, **options: Any) -> tuple[dict[str, Check], Any]:
    async with hardware_rig() as rig:
        settings = load_settings(
            None, station={"state_dir": str(tmp_path)}, connectors=[{"id": 1, "hal": rig.hal_config()}]
        )
        clock = RealClock()
        hardware, _ = build_station_hardware(settings, clock)
        rig.attach_pilot(hardware.connectors[0].pilot)
        if options.pop("welded", False):
            rig.pins.pin(COIL).input_pin = None  # the mirror no longer follows the coil
            rig.pins.pin(MIRROR).drive_high()
        checks = await run_selftest(hardware, clock, SelfTestOptions(**options), lambda c: None)
        return {c.name: c for c in checks}, rig


async def test_selftest_passes_on_a_healthy_board(tmp_path: Path) -> None:
    checks, rig = await run_on_rig(tmp_path)
    failed = [f"{c.name}: {c.detail}" for c in checks.values() if not c.passed]
    assert failed == []
    assert checks["connector 1 cp +12 V"].values["positive_v"] == pytest.approx(12.0, abs=0.1)
    assert checks["connector 1 cp -12 V"].values["negative_v"] == pytest.approx(-12.0, abs=0.1)
    assert checks["connector 1 cp PWM 50 %"].values["negative_v"] == pytest.approx(-12.0, abs=0.1)
    assert "followed close and open" in checks["connector 1 contactor"].detail
    assert "trip_ms" in checks["connector 1 rcd"].values
    assert checks["connector 1 pp"].values["ampacity_a"] == 32
    assert checks["connector 1 meter"].values["energy_wh"] == pytest.approx(100_000.0)
    assert rig.pins.pin(COIL).state == 0  # left open


async def test_selftest_reports_a_welded_contactor(tmp_path: Path) -> None:
    checks, _ = await run_on_rig(tmp_path, welded=True)
    assert not checks["connector 1 contactor"].passed
    assert "welded" in checks["connector 1 contactor"].detail


async def test_selftest_on_the_fake_hal(tmp_path: Path) -> None:
    settings = load_settings(None, station={"state_dir": str(tmp_path)})
    clock = RealClock()
    hardware, _ = build_station_hardware(settings, clock)
    checks = await run_selftest(hardware, clock, SelfTestOptions(), lambda c: None)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert {c.name for c in checks} >= {
        "connector 1 cp +12 V",
        "connector 1 contactor",
        "connector 1 rcd",
        "connector 1 lock",
        "connector 1 meter",
    }


async def test_selftest_refuses_while_the_controller_charges(make_harness: Any) -> None:
    h = await make_harness()
    settings = h.app.settings
    assert "running" in (await asyncio.to_thread(controller_busy, settings) or "")
    h.sim.plug()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    reason = await asyncio.to_thread(controller_busy, settings)
    assert reason is not None and "charging on connector 1" in reason


async def test_selftest_while_the_controller_runs_is_a_refusal_not_no_controller(
        make_harness: Any, capsys: pytest.CaptureFixture[str]) -> None:
    h = await make_harness()
    station = h.app.settings.station
    config = Path(station.state_dir) / "chargepi.toml"
    config.write_text(f"[station]\nstate_dir = \"{station.state_dir}\"\n")
    code = await asyncio.to_thread(main, ["selftest", "--yes", "--config", str(config)])
    assert code == EXIT_FAILED != EXIT_NO_CONTROLLER
    assert "the controller is running and owns the hardware" in capsys.readouterr().err


def test_selftest_runs_when_no_controller_listens(tmp_path: Path) -> None:
    settings = load_settings(None, station={"state_dir": str(tmp_path)})
    assert controller_busy(settings) is None


async def test_meter_scan_command(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    server = await start_tcp_server([EmulatedMeter(builtin_maps()["em340"], 11)], port)
    try:
        args = build_parser().parse_args(
            [
                "meter",
                "scan",
                "--host",
                "127.0.0.1",
                "--tcp-port",
                str(port),
                "--ids",
                "10-12",
                "--timeout",
                "0.2",
            ]
        )
        assert isinstance(args, argparse.Namespace)
        assert await scan_command(args) == 0
    finally:
        await server.shutdown()
    out = capsys.readouterr().out
    assert "address  11: Carlo Gavazzi EM340 / Phoenix EEM-350" in out
    assert "1234.600 kWh" in out  # EM340 counts 0.1 kWh
    assert "address  10" not in out and "address  12" not in out


def test_meter_scan_rejects_bad_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["meter", "scan", "--host", "x", "--ids", "0-300"])
    assert "Modbus addresses are 1..247" in capsys.readouterr().err


def test_selftest_cli_on_the_fake_hal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    monkeypatch.setattr("builtins.input", lambda prompt: "n")  # the technician declines the click
    from firmware.cli.main import main

    assert main(["selftest", "--config", str(config), "--rfid-timeout", "0"]) == 0
    out = capsys.readouterr().out
    assert "contactor click skipped" in out
    assert "PASS  connector 1 cp +12 V" in out and "contactor " not in out.split("skipped")[1]
    assert out.strip().endswith("0 failed")
