"""The "sim" control command over a real control socket, and the `chargepi sim` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from firmware.cli import sim_cmd
from firmware.control.client import CommandFailed, call
from firmware.control.server import ControlServer
from firmware.control.sim_commands import register_sim_commands
from hal.clock import SimClock
from hal.fake import SimulatedConnector, SimulatedStation
from hal.types import CPState, PilotOutput


@pytest.fixture
def station() -> SimulatedStation:
    clock = SimClock()
    connectors = [SimulatedConnector(i, clock, on_power_cut=lambda: None) for i in (1, 2)]
    return SimulatedStation(clock, connectors, with_emergency_stop=True, with_grid_meter=True)


@pytest.fixture
def socket_dir() -> Any:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="cpsim") as path:  # unix socket paths are short
        yield Path(path)


@pytest.fixture
async def server(station: SimulatedStation, socket_dir: Path) -> AsyncIterator[ControlServer]:
    control = ControlServer(socket_dir / "control.sock")
    register_sim_commands(control, station)
    await control.start()
    yield control
    await control.close()


async def sim(server: ControlServer, **args: Any) -> Any:
    return await asyncio.to_thread(call, server.path, "sim", **args)


async def test_connector_actions_reach_the_simulation(
        server: ControlServer, station: SimulatedStation) -> None:
    snap = await sim(server, action="plug", connector=2)
    assert snap["connectors"][1]["plugged"] and not snap["connectors"][0]["plugged"]
    conn = station.connector(2)
    assert conn.pilot.read().state is CPState.B
    await sim(server, action="ev-state", connector=2, value="D")
    assert conn.pilot.read().state is CPState.D
    await sim(server, action="pause", connector=2)
    assert conn.pilot.read().state is CPState.B
    await sim(server, action="resume", connector=2)
    await sim(server, action="set-ev-max-current", connector=2, value=10)
    await sim(server, action="set-phases", connector=2, value=1)
    snap = await sim(server, action="set-temperature", connector=2, value="70.5")
    assert snap["connectors"][1]["ev_max_current_a"] == 10.0
    assert snap["connectors"][1]["ev_phases"] == 1
    assert snap["connectors"][1]["temperature_c"] == 70.5
    tokens: list[str] = []
    conn.token_reader.subscribe(tokens.append)
    await sim(server, action="swipe", connector=2, value="04A2B3C4")
    assert tokens == ["04A2B3C4"]
    snap = await sim(server, action="fault", connector=2, value="rcd")
    assert snap["connectors"][1]["faults"] == ["rcd"]
    snap = await sim(server, action="fault", connector=2, value="rcd", clear=True)
    assert snap["connectors"][1]["faults"] == []
    snap = await sim(server, action="unplug", connector=2)
    assert not snap["connectors"][1]["plugged"]


async def test_station_actions(server: ControlServer, station: SimulatedStation) -> None:
    assert station.emergency_stop is not None and station.grid_meter is not None
    presses: list[bool] = []
    station.emergency_stop.subscribe(presses.append)
    snap = await sim(server, action="emergency-stop", value="on")
    assert snap["emergency_stop"] is True and presses == [True]
    await sim(server, action="emergency-stop", value="off")
    assert presses == [True, False]
    snap = await sim(server, action="grid-load", value=[10, 12.5, 0])
    assert snap["site_load_a"] == [10.0, 12.5, 0.0]
    assert (await station.grid_meter.read()).current_a == (10.0, 12.5, 0.0)
    snap = await sim(server, action="grid-load", value=[7])
    assert snap["site_load_a"] == [7.0, 7.0, 7.0]


@pytest.mark.parametrize(("args", "message"), [
    ({"action": "fault", "value": "smoke"}, "unknown fault 'smoke'; valid faults: diode, cp-short"),
    ({"action": "plug", "connector": 9}, "no simulated connector 9"),
    ({"action": "unplug"}, "no car is plugged in"),
    ({"action": "ev-state", "value": "X"}, "EV state must be one of B, C, D"),
    ({"action": "set-phases", "value": 2.5}, "whole number"),
    ({"action": "set-ev-max-current", "value": "lots"}, "must be a number"),
    ({"action": "demand-response", "value": "on"}, "no demand-response input"),
    ({"action": "grid-load", "value": [1, 2]}, "1 or 3"),
    ({"action": "explode"}, "unknown sim action 'explode'"),
])
async def test_bad_requests_get_a_clear_error(
        server: ControlServer, args: dict[str, Any], message: str) -> None:
    with pytest.raises(CommandFailed, match=message):
        await sim(server, **args)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=None)
    top = argparse.ArgumentParser(prog="chargepi")
    sub = top.add_subparsers(dest="command")
    sim_cmd.add_parser(sub, common)
    return top


@pytest.mark.parametrize(("argv", "expected"), [
    ("sim plug", {"action": "plug", "connector": 1, "value": None, "clear": False}),
    ("sim unplug --connector 2", {"action": "unplug", "connector": 2, "value": None, "clear": False}),
    ("sim --connector 2 pause", {"action": "pause", "connector": 2, "value": None, "clear": False}),
    ("sim resume", {"action": "resume", "connector": 1, "value": None, "clear": False}),
    ("sim ev-state C", {"action": "ev-state", "connector": 1, "value": "C", "clear": False}),
    ("sim swipe 04A2B3C4", {"action": "swipe", "connector": 1, "value": "04A2B3C4", "clear": False}),
    ("sim fault welded --clear", {"action": "fault", "connector": 1, "value": "welded", "clear": True}),
    ("sim set ev-max-current 16", {"action": "set-ev-max-current", "connector": 1, "value": 16.0,
                                   "clear": False}),
    ("sim set phases 1", {"action": "set-phases", "connector": 1, "value": 1.0, "clear": False}),
    ("sim set temperature 70", {"action": "set-temperature", "connector": 1, "value": 70.0, "clear": False}),
    ("sim emergency-stop on", {"action": "emergency-stop", "connector": 1, "value": "on", "clear": False}),
    ("sim demand-response off", {"action": "demand-response", "connector": 1, "value": "off",
                                 "clear": False}),
    ("sim grid-load 10 12 8", {"action": "grid-load", "connector": 1, "value": [10.0, 12.0, 8.0],
                               "clear": False}),
])
def test_command_line_maps_to_the_request(argv: str, expected: dict[str, Any]) -> None:
    args = parser().parse_args(argv.split())
    assert args.handler is sim_cmd.run
    assert sim_cmd.request(args) == expected


@pytest.mark.parametrize("argv", ["sim fault smoke", "sim ev-state E", "sim set colour 3", "sim",
                                  "sim grid-load", "sim emergency-stop maybe"])
def test_command_line_refuses_bad_input(argv: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv.split())
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_grid_load_needs_one_or_three_values(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["sim", "grid-load", "1", "2"])
    with pytest.raises(SystemExit) as exit_info:
        sim_cmd.request(args)
    assert exit_info.value.code == 2
    assert "one current for all phases or three" in capsys.readouterr().err


def write_config(socket_dir: Path, socket: Path) -> Path:
    config = socket_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{socket_dir}"\ncontrol_socket = "{socket}"\n')
    return config


async def test_cli_against_a_running_controller(server: ControlServer, station: SimulatedStation,
                                                socket_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(socket_dir, server.path)
    args = parser().parse_args(["sim", "plug", "--config", str(config)])
    assert await asyncio.to_thread(sim_cmd.run, args) == 0
    station.connector(1).pilot.set_output(PilotOutput.pwm(26.7))
    out = capsys.readouterr().out
    assert "connector 1: car plugged in, state B" in out
    args = parser().parse_args(["sim", "--config", str(config), "--json", "fault", "pp"])
    assert await asyncio.to_thread(sim_cmd.run, args) == 0
    snapshot = json.loads(capsys.readouterr().out)
    assert snapshot["connectors"][0]["faults"] == ["pp"]
    assert snapshot["connectors"][0]["pilot_duty_percent"] == 26.7
    args = parser().parse_args(["sim", "--config", str(config), "unplug", "--connector", "2"])
    with pytest.raises(SystemExit) as exit_info:
        await asyncio.to_thread(sim_cmd.run, args)
    assert exit_info.value.code == 1
    assert "connector 2: no car is plugged in" in capsys.readouterr().err


async def test_cli_explains_a_controller_without_fake_hal(socket_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    control = ControlServer(socket_dir / "plain.sock")
    await control.start()
    try:
        args = parser().parse_args(["sim", "plug", "--config", str(write_config(socket_dir, control.path))])
        with pytest.raises(SystemExit) as exit_info:
            await asyncio.to_thread(sim_cmd.run, args)
    finally:
        await control.close()
    assert exit_info.value.code == 1
    assert "no simulated hardware" in capsys.readouterr().err


def test_cli_without_a_controller(socket_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["sim", "plug", "--config",
                                str(write_config(socket_dir, socket_dir / "none.sock"))])
    with pytest.raises(SystemExit) as exit_info:
        sim_cmd.run(args)
    assert exit_info.value.code == 3
    assert "no controller is listening" in capsys.readouterr().err


def test_power_cut_kills_a_running_controller(socket_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(socket_dir, socket_dir / "control.sock")
    controller = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (socket_dir / "control.sock").exists():
            assert controller.poll() is None, "the controller did not start"
            assert time.monotonic() < deadline, "the controller did not open its control socket"
            time.sleep(0.05)
        assert sim_cmd.run(parser().parse_args(["sim", "plug", "--config", str(config)])) == 0
        capsys.readouterr()
        assert sim_cmd.run(parser().parse_args(["sim", "fault", "power-cut", "--config", str(config)])) == 0
        assert "power cut" in capsys.readouterr().out
        assert controller.wait(timeout=30) == 137
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait()
