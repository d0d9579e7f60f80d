"""External charging limits (K11-K13) on a whole 2.0.1 charger: temperature derating is reported as a
NotifyChargingLimit (source Other) and, released, as ClearedChargingLimit, each with a ChargingRateChanged
TransactionEvent during a transaction; changes below LimitChangeSignificance are not sent; a limit gone
while the station was off is reported cleared after the restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from ocpp.v201 import call

from firmware.ocpp.v201.charging_limits import OWN_MAXIMUM, SOURCES, external_limits, significant
from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import events

NAMES = sorted({*SOURCES, *OWN_MAXIMUM, "smart_charging", "cable", "authorization"})


@given(st.dictionaries(st.sampled_from(NAMES), st.floats(min_value=0, max_value=80)))
def test_external_limits_are_the_lowest_local_source_below_the_evse_maximum(limits: dict[str, float]) -> None:
    found = external_limits(limits)
    own = min((limits[n] for n in OWN_MAXIMUM if n in limits), default=float("inf"))
    for kind, amps in found.items():
        below = [a for n, a in limits.items() if SOURCES.get(n) == kind and a < own]
        assert amps == min(below)
    assert "CSO" not in found  # CSMS profiles are never reported (K11.FR.05)
    assert set(found) == {SOURCES[n] for n, a in limits.items() if n in SOURCES and a < own}


@given(st.floats(min_value=0.1, max_value=80), st.floats(min_value=0, max_value=80),
       st.floats(min_value=0, max_value=100))
def test_significance_is_relative_to_the_value_reported(old: float, new: float, percent: float) -> None:
    assert significant(old, new, percent) == (abs(new - old) / old * 100 > percent)


def limits(csms: Csms) -> list[tuple[str, Any]]:
    sent = [f for f in csms.frames if f[0] == 2 and f[2] in ("NotifyChargingLimit", "ClearedChargingLimit")]
    return [(f[2], f[3]) for f in sent]


async def set_variable(csms: Csms, variable: str, value: str) -> None:
    assert csms.peer is not None
    answer = await csms.peer.call(call.SetVariables(set_variable_data=[{
        "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": variable},
        "attribute_value": value}]), suppress=False)
    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"


def rate_changes(csms: Csms) -> int:
    return sum(1 for e in events(csms) if e["trigger_reason"] == "ChargingRateChanged")


async def charger(make_harness: HarnessFactory, csms: Csms, state_dir: Path,
                  clock: SimClock | None = None) -> Harness:
    h: Harness = await make_harness(ocpp=section(csms.url), state_dir=state_dir, clock=clock)
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    return h


async def test_derating_is_reported_and_released(make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, short_dir)
        h.sim.plug()  # free charging: a transaction starts at the plug
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        await set_variable(csms, "NotifyChargingLimitWithSchedules", "true")

        h.sim.set_temperature(66)  # derated to half of 32 A
        await eventually(lambda: limits(csms), h.clock, 0.1, within=15)
        [(action, payload)] = limits(csms)
        assert action == "NotifyChargingLimit"
        assert payload["chargingLimit"] == {"chargingLimitSource": "Other"} and payload["evseId"] == 1
        [schedule] = payload["chargingSchedule"]
        assert schedule["chargingRateUnit"] == "A"
        assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0}]
        await eventually(lambda: rate_changes(csms) == 1, h.clock, 0.1, within=15)  # K11.FR.04

        # GetChargingProfiles reports it as a ChargingStationExternalConstraints profile (negative id).
        assert csms.peer is not None
        asked = await csms.peer.call(call.GetChargingProfiles(request_id=4, charging_profile={
            "charging_limit_source": ["Other", "EMS"]}), suppress=False)
        assert asked.status == "Accepted"
        await eventually(lambda: csms.of("ReportChargingProfiles"), h.clock, 0.1, within=15)
        [report] = csms.of("ReportChargingProfiles")
        assert (report["charging_limit_source"], report["evse_id"]) == ("Other", 1)
        [external] = report["charging_profile"]
        assert external["charging_profile_purpose"] == "ChargingStationExternalConstraints"
        assert external["id"] < 0
        [schedule] = external["charging_schedule"]
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 16.0}]
        none = await csms.peer.call(call.GetChargingProfiles(request_id=5, charging_profile={
            "charging_limit_source": ["SO"]}), suppress=False)
        assert none.status == "NoProfiles"

        h.sim.set_temperature(40)
        await eventually(lambda: len(limits(csms)) == 2, h.clock, 0.1, within=15)
        assert limits(csms)[1] == ("ClearedChargingLimit", {"chargingLimitSource": "Other", "evseId": 1})
        await eventually(lambda: rate_changes(csms) == 2, h.clock, 0.1, within=15)
        await h.app.stop()


async def test_small_changes_are_not_sent(make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, short_dir)
        await set_variable(csms, "LimitChangeSignificance", "60")
        h.sim.set_temperature(66)  # 16 A
        await eventually(lambda: limits(csms), h.clock, 0.1, within=15)
        h.sim.set_temperature(69)  # a quarter: 8 A, 50 % less, below the significance
        await h.advance(10)
        assert h.station.snapshot()["connectors"][0]["limits"]["temperature"] == 8
        assert len(limits(csms)) == 1
        assert "chargingSchedule" not in limits(csms)[0][1]  # NotifyChargingLimitWithSchedules false
        await h.app.stop()


async def test_a_limit_gone_while_off_is_cleared_after_the_restart(make_harness: HarnessFactory,
                                                                   short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, short_dir)
        reply = await h.app.control.dispatch({"command": "limit", "args": {"action": "set", "amps": 8,
                                                                             "for_s": 3600}})
        assert reply["ok"], reply  # a technician's `chargepi limit set`: not kept over a restart
        await eventually(lambda: limits(csms), h.clock, 0.1, within=15)
        assert limits(csms)[0][1]["chargingLimit"] == {"chargingLimitSource": "Other"}
        await h.app.stop()

        h = await charger(make_harness, csms, short_dir, SimClock(h.clock.now()))
        await h.advance(30)
        assert len(limits(csms)) == 1  # the sources get time to report themselves first
        await h.advance(40)
        await eventually(lambda: len(limits(csms)) == 2, h.clock, 0.1, within=15)
        assert limits(csms)[1] == ("ClearedChargingLimit", {"chargingLimitSource": "Other", "evseId": 1})
        await h.app.stop()
