"""The audit trail: one INFO line per meaningful event with structured fields, kept for `chargepi events`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from firmware.audit.store import db_path, read_events
from firmware.cli.main import main
from firmware.control.client import call as control_call
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import csms, eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application import ocpp_section, online

Capture = pytest.CaptureFixture[str]
__all__ = ["csms"]  # the fixture


def audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Every audit line logged so far: its message plus its structured fields."""
    out = []
    for record in caplog.records:
        if record.name == "firmware.events":
            assert record.levelno == logging.INFO
            fields = {k: v for k, v in vars(record).items() if k in {
                "event", "connector", "id_tag", "outcome", "reason", "energy_wh", "source", "offered_a",
                "fault", "latched", "who", "command", "params", "status", "session_id"}}
            out.append({"msg": record.getMessage(), **fields})
    return out


def of(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == event]


async def plug_swipe_unplug(h: Harness, card: str, minutes: float = 10) -> None:
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe(card)
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await h.advance(minutes * 60)
    h.sim.unplug()
    await eventually(lambda: h.station.session_of(1) is None, h.clock, 0.2)
    await h.advance(1)


async def test_a_session_is_told_line_by_line(make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture,
                                              short_dir: Path) -> None:
    caplog.set_level(logging.INFO, logger="firmware.events")
    h = await make_harness(ocpp=None, station={"free_charging": True})
    await plug_swipe_unplug(h, "CARD-1")
    lines = audit(caplog)
    assert of(lines, "plug")[0]["msg"] == "connector 1: car plugged in"
    assert of(lines, "card-presented")[0]["id_tag"] == "CARD-1"
    started = of(lines, "session-started")[0]
    assert started["connector"] == 1
    stopped = of(lines, "session-stopped")[0]
    assert stopped["reason"] == "EVDisconnected"
    assert stopped["energy_wh"] > 1000  # 10 minutes at up to 22 kW
    assert stopped["msg"].startswith("connector 1: session stopped (EVDisconnected), ")
    assert stopped["msg"].endswith(" kWh")
    offers = of(lines, "offer-changed")
    assert offers and all(line["source"] for line in offers)
    assert any(line["offered_a"] > 0 for line in offers)
    assert of(lines, "unplug")[0]["msg"] == "connector 1: car unplugged"
    # the same lines are in the store, in order, for `chargepi events`
    stored = [e.event for e in read_events(db_path(short_dir))]
    assert [line["event"] for line in lines] == stored


async def test_a_refused_card_says_why(make_harness: HarnessFactory, csms: TestCsms,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="firmware.events")
    port = await csms.start()
    csms.tags["STOLEN"] = {"status": "Blocked"}
    h = await make_harness(ocpp=ocpp_section(port))
    await online(h)
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe("STOLEN")
    await eventually(lambda: of(audit(caplog), "card-refused") != [], h.clock, 0.2)
    refused = of(audit(caplog), "card-refused")[0]
    assert refused["msg"] == "card STOLEN refused: Blocked (CSMS)"
    assert (refused["connector"], refused["outcome"]) == (1, "Blocked (CSMS)")
    assert h.station.session_of(1) is None


async def test_csms_commands_are_logged_with_what_was_asked_and_answered(
        make_harness: HarnessFactory, csms: TestCsms, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="firmware.events")
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port))
    await online(h)
    assert csms.cp is not None
    await csms.cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"), suppress=False)
    await csms.cp.call(call.ChangeConfiguration(key="NoSuchKey", value="1"), suppress=False)
    commands = of(audit(caplog), "csms-command")
    assert [(c["command"], c["msg"]) for c in commands] == [
        ("ChangeAvailability", "CSMS sent ChangeAvailability: Accepted"),
        ("ChangeConfiguration", "CSMS sent ChangeConfiguration: NotSupported")]
    assert commands[0]["params"] == {"connectorId": 1, "type": "Inoperative"}
    assert commands[0]["who"] == "CSMS"


async def test_faults_and_technician_commands_name_who_and_what(
        make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="firmware.events")
    h = await make_harness(ocpp=None)
    h.sim.inject("welded")
    h.sim.plug()
    await h.advance(10)
    h.sim.unplug()
    await h.advance(10)
    socket_path = h.app.settings.station.socket_path

    def fault_clear() -> Any:
        return control_call(socket_path, "fault-clear", fault="welded", connector=1)

    import asyncio
    h.sim.clear("welded")
    await asyncio.get_running_loop().run_in_executor(None, fault_clear)
    lines = audit(caplog)
    assert any(line["fault"] == "welded" and line["latched"] for line in of(lines, "fault-set")), lines
    assert of(lines, "fault-cleared")[0]["fault"] == "welded"
    command = of(lines, "technician-command")[0]
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    assert command["who"] == user
    assert command["msg"] == f"{user} ran `fault-clear` fault=welded connector=1: done"


async def test_the_events_command_prints_the_history(make_harness: HarnessFactory, short_dir: Path,
                                                     capsys: Capture) -> None:
    h = await make_harness(ocpp=None, station={"free_charging": True})
    await plug_swipe_unplug(h, "CARD-1", minutes=1)
    config = short_dir / "c.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n')
    # The CLI asks the running controller (in this event loop): run it in a thread of its own.
    events = lambda *args: asyncio.to_thread(main, ["events", *args])  # noqa: E731
    assert await events("--config", str(config)) == 0
    text = capsys.readouterr().out
    assert "connector 1: car plugged in" in text and "card CARD-1 presented" in text
    assert "connector 1: session stopped (EVDisconnected)" in text
    assert await events("--config", str(config), "--json", "--last", "2") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in read_events(db_path(short_dir))][-2:]
    assert await events("--config", str(config), "--since", "1d", "--connector", "2") == 0
    assert capsys.readouterr().out == ""


def test_events_without_a_history_says_so(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    assert main(["events", "--config", str(config)]) == 1
    assert "no event history at" in capsys.readouterr().err


def test_since_takes_times_ago_and_dates() -> None:
    from firmware.cli.events_cmd import parse_since

    assert parse_since("2026-01-05T08:00").hour == 8
    assert parse_since("10m") < parse_since("1m")
    with pytest.raises(Exception, match="expected a time ago like 10m"):
        parse_since("yesterday")
