"""Demand-response input and the local `chargepi limit` command (control socket and CLI)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
from pathlib import Path

import pytest

from firmware.cli import limit_cmd
from firmware.control.server import ControlError, ControlServer
from firmware.settings import Settings
from firmware.smart.demand_response import DemandResponse, ExternalLimit
from hal.clock import SimClock
from tests.smart.fakes import FakeInput, RecordingStation
from tests.smart.helpers import at


def settings(**dr: object) -> Settings:
    return Settings(connectors=[{"id": 1, "phases": 3}, {"id": 2, "phases": 1}],
                    station={"hal": {"demand_response": {"driver": "fake"}}},
                    demand_response={"enabled": True, "power_w": 4200, **dr})


async def test_relay_caps_the_station_power_while_active() -> None:
    station = RecordingStation([1, 2])
    relay = FakeInput()
    dr = DemandResponse(station, settings(), relay)  # type: ignore[arg-type]
    await dr.start()
    assert station.limit("demand_response", 1) is None
    # The driver calls back from its own thread.
    thread = threading.Thread(target=relay.set, args=(True,))
    thread.start()
    thread.join()
    await asyncio.sleep(0)
    # Nobody charges: each connector gets half of 4200 W: 2100 / (3 x 230) and 2100 / 230.
    assert station.limit("demand_response", 1) == 3.0
    assert station.limit("demand_response", 2) == 9.1
    station.start_session(2, at("2026-01-05T08:00"))  # only connector 2 charges: it may use all of it
    assert station.limit("demand_response", 2) == 18.2
    assert station.sections["demand_response"]()["active"] is True
    relay.set(False)
    await asyncio.sleep(0)
    assert station.limit("demand_response", 1) is None and station.limit("demand_response", 2) is None
    await dr.stop()


async def test_active_low_relay() -> None:
    station = RecordingStation([1, 2])
    dr = DemandResponse(station, settings(active_low=True), FakeInput(active=False))  # type: ignore[arg-type]
    await dr.start()
    assert dr.active is True and station.limit("demand_response", 1) == 3.0
    await dr.stop()


async def test_external_limit_lapses_after_its_time() -> None:
    clock = SimClock(at("2026-01-05T08:00"))
    station = RecordingStation([1, 2])
    ext = ExternalLimit(station, clock, [1, 2])  # type: ignore[arg-type]
    result = await ext.handle({"action": "set", "amps": 10, "for_s": 900, "connector": 2})
    assert result == {"2": {"amps": 10.0, "until": "2026-01-05T08:15:00+00:00"}}
    assert station.limit("external", 2) == 10 and station.limit("external", 1) is None
    await clock.advance(899)
    assert station.limit("external", 2) == 10
    await clock.advance(1)
    assert station.limit("external", 2) is None
    await ext.handle({"action": "set", "amps": 0})
    assert station.limit("external", 1) == 0 and station.limit("external", 2) == 0
    assert await ext.handle({"action": "clear"}) == {}
    assert station.limit("external", 1) is None
    for bad in ({"action": "set", "amps": 81}, {"action": "set", "amps": "x"}, {"action": "boost"},
                {"action": "set", "amps": 10, "for_s": -1}, {"action": "clear", "connector": 3}):
        with pytest.raises(ControlError):
            await ext.handle(bad)


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("90s", 90), ("1h30m", 5400), ("45", 45)])
def test_durations(text: str, seconds: float) -> None:
    assert limit_cmd.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "15x", "0s", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        limit_cmd.parse_duration(text)


def test_amps() -> None:
    assert limit_cmd.parse_amps("10A") == 10 and limit_cmd.parse_amps("16.5") == 16.5
    for bad in ("ten", "100A", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            limit_cmd.parse_amps(bad)


async def test_cli_sets_and_clears_through_the_control_socket(capsys: pytest.CaptureFixture[str]) -> None:
    clock = SimClock(at("2026-01-05T08:00"))
    station = RecordingStation([1, 2])
    ext = ExternalLimit(station, clock, [1, 2])  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        sock = Path(tmp) / "c.sock"
        config = Path(tmp) / "chargepi.toml"
        config.write_text(f'[station]\ncontrol_socket = "{sock}"\n')
        server = ControlServer(sock)
        ext.register(server)
        await server.start()
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--config")
        parser = argparse.ArgumentParser()
        limit_cmd.add_parser(parser.add_subparsers(), common)
        args = parser.parse_args(["limit", "set", "10A", "--for", "15m", "--connector", "1",
                                  "--config", str(config)])
        assert await asyncio.to_thread(args.handler, args) == 0
        assert station.limit("external", 1) == 10
        assert "connector 1: 10 A until 2026-01-05T08:15:00+00:00" in capsys.readouterr().out
        args = parser.parse_args(["limit", "clear", "--config", str(config)])
        assert await asyncio.to_thread(args.handler, args) == 0
        assert station.limit("external", 1) is None
        assert "external limit cleared" in capsys.readouterr().out
        await server.close()
