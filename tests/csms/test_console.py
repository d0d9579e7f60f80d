"""The dev CSMS console: CSMS→charger calls typed by hand, sent to a real `ocpp` charge point."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from tests.conftest import HarnessFactory
from tests.csms.client import mini_charge_point
from tests.ocpp.conftest import eventually
from tools.csms import DevCsms
from tools.csms.console import CSMS_CALLS, CSMS_CALLS_201, V201, Console, fields_of


@pytest.fixture
async def csms():
    async with DevCsms(log_stream=None) as server:
        yield server


async def test_typed_calls_reach_the_charger_and_the_answer_is_printed(csms: DevCsms) -> None:
    console = Console(csms)
    assert await console.execute("chargers") == "no charger is connected"
    async with mini_charge_point(csms.url, "CP-7") as cp:
        await csms.wait_connected("CP-7")
        assert await console.execute("chargers") == "CP-7"
        assert await console.execute("Reset type=Soft") == '{"status": "Accepted"}'  # the only charger
        assert json.loads(await console.execute(
            "CP-7 RemoteStartTransaction idTag=04A2B3C4 connectorId=1")) == {"status": "Accepted"}
        await console.execute("CP-7 ChangeConfiguration key=HeartbeatInterval value=60")
        profile = {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}}
        answer = await console.execute(f"CP-7 SetChargingProfile {json.dumps(profile)}")
        assert answer == '{"status": "Accepted"}'
        assert [name for name, _ in cp.handled] == [
            "Reset", "RemoteStartTransaction", "ChangeConfiguration", "SetChargingProfile"]
        assert cp.handled[1][1] == {"id_tag": "04A2B3C4", "connector_id": 1}
        assert cp.handled[2][1] == {"key": "HeartbeatInterval", "value": "60"}
        assert cp.handled[3][1]["cs_charging_profiles"]["charging_schedule"]["charging_rate_unit"] == "A"
        # a call the charger does not implement: its CALLERROR
        assert (await console.execute("GetLocalListVersion")).startswith("CALLERROR NotImplemented")


async def test_mistakes_are_explained(csms: DevCsms) -> None:
    console = Console(csms)
    assert await console.execute("Reset type=Soft") == "error: say which charger: none is connected"
    assert "unknown OCPP 1.6 call 'Rest'" in await console.execute("CP-1 Rest type=Soft")
    async with mini_charge_point(csms.url, "CP-1"):
        await csms.wait_connected("CP-1")
        answer = await console.execute("Reset")
        assert answer.startswith("error: Reset:") and "fields: type" in answer
        assert await console.execute("Reset Soft") == "error: 'Soft': expected name=value"
        assert await console.execute("CP-2 Reset type=Soft") == "error: charge point 'CP-2' is not connected"


def test_every_csms_call_is_offered_with_its_fields() -> None:
    assert fields_of("RemoteStartTransaction") == ["idTag", "connectorId?", "chargingProfile?"]
    assert len(CSMS_CALLS) == 19
    for action in CSMS_CALLS:
        fields_of(action)


async def test_the_console_reads_commands_until_quit(csms: DevCsms) -> None:
    out = io.StringIO()
    async with mini_charge_point(csms.url, "CP-1"):
        await csms.wait_connected("CP-1")
        await asyncio.wait_for(Console(csms).run(io.StringIO("chargers\nReset type=Hard\nquit\nchargers\n"),
                                                 out), 10)
    assert out.getvalue().splitlines() == ["dev CSMS console: `help` for the commands", "CP-1",
                                           '{"status": "Accepted"}']


async def test_a_2_0_1_charger_takes_2_0_1_calls(csms: DevCsms, make_harness: HarnessFactory) -> None:
    console = Console(csms)
    h = await make_harness(ocpp={"url": csms.url, "charge_point_id": "CP-2", "version": "2.0.1",
                                 "ping_interval_s": 0, "response_timeout_s": 5.0})
    await eventually(lambda: "CP-2" in csms.connected, h.clock, 0.1, within=15)
    assert await console.execute("chargers") == "CP-2 (OCPP 2.0.1)"
    assert (await console.execute("actions")).splitlines()[0] == "CancelReservation reservationId customData?"
    answer = json.loads(await console.execute(
        'CP-2 GetVariables {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, '
        '"variable": {"name": "HeartbeatInterval"}}]}'))
    assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted"
    assert "unknown OCPP 2.0.1 call 'RemoteStartTransaction'" in await console.execute(
        "RemoteStartTransaction idTag=X")
    assert json.loads(await console.execute("ClearCache")) == {"status": "Accepted"}
    assert len(CSMS_CALLS_201) == 40
    for action in CSMS_CALLS_201:
        fields_of(action, V201)
