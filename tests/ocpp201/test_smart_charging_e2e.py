"""2.0.1 Smart Charging of a whole charger (fake HAL, simulated time) against the v201 test CSMS: what the
PWM duty becomes when SetChargingProfile / ClearChargingProfile arrive (the neutral engine, as for 1.6),
the 2.0.1 refusals with their reasonCode, GetChargingProfiles → ReportChargingProfiles, GetCompositeSchedule,
and RequestStartTransaction's profile held for its transaction."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call

from firmware.core.connector import METER_SETTLE_S, PWM_RAISE_INTERVAL_S
from firmware.core.vocabulary import StopReason
from firmware.ocpp.v201.adapter import Adapter201
from firmware.ocpp.v201.smart_charging import SmartCharging201
from hal.types import PilotOutputMode
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section

START = "2030-06-01T00:00:00Z"
RAISE_S = PWM_RAISE_INTERVAL_S + 1


def duty(h: Harness, connector_id: int = 1) -> float | None:
    out = h.sim_connector(connector_id).pilot.output
    return out.duty_percent if out.mode == PilotOutputMode.PWM else None


def smart(h: Harness) -> SmartCharging201:
    assert isinstance(h.app.ocpp, Adapter201) and h.app.ocpp.smart_charging is not None
    return h.app.ocpp.smart_charging


def profile(id: int, limit: float, purpose: str = "TxProfile", unit: str = "A", stack: int = 1,
            kind: str = "Relative", **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {"id": 1, "charging_rate_unit": unit,
                                "charging_schedule_period": [{"start_period": 0, "limit": limit}]}
    if kind != "Relative":
        schedule["start_schedule"] = START
    return {"id": id, "stack_level": stack, "charging_profile_purpose": purpose,
            "charging_profile_kind": kind, "charging_schedule": [schedule], **extra}


async def charging(make_harness: HarnessFactory, csms: Csms, **kw: Any) -> tuple[Harness, str]:
    h: Harness = await make_harness(ocpp=section(csms.url), **kw)
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    h.sim.plug()
    await eventually(lambda: any(e["transaction_info"].get("charging_state") == "Charging"
                                 for e in csms.of("TransactionEvent")), h.clock, 0.1, within=15)
    await h.advance(10)
    tx = csms.of("TransactionEvent")[0]["transaction_info"]["transaction_id"]
    return h, tx


async def set_profile(csms: Csms, evse_id: int, charging_profile: dict[str, Any]) -> Any:
    assert csms.peer is not None
    return await csms.peer.call(call.SetChargingProfile(evse_id=evse_id, charging_profile=charging_profile),
                                suppress=False)


async def test_tx_profile_reaches_the_pwm_and_clearing_restores_it(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, tx = await charging(make_harness, csms)
        assert duty(h) == pytest.approx(53.33, abs=0.01)  # 32 A
        answer = await set_profile(csms, 1, profile(7, 10, transaction_id=tx))
        assert answer.status == "Accepted"
        assert duty(h) == pytest.approx(16.67, abs=0.01)  # 10 A, already when the answer arrived
        # W: 4140 W on three phases at 230 V = 6 A (K01.FR.50); the same id replaces (K01.FR.05).
        answer = await set_profile(csms, 1, profile(7, 4140, unit="W", transaction_id=tx))
        assert answer.status == "Accepted"
        assert duty(h) == pytest.approx(10.0, abs=0.01)
        assert csms.peer is not None
        got = await csms.peer.call(call.GetVariables(get_variable_data=[
            {"component": {"name": "SmartChargingCtrlr"},
             "variable": {"name": "Entries", "instance": "ChargingProfiles"}}]), suppress=False)
        assert got.get_variable_result[0]["attribute_value"] == "1"
        # A station cap below it wins (ChargingStationMaxProfile on EVSE 0 only).
        answer = await set_profile(csms, 0, profile(8, 8, purpose="ChargingStationMaxProfile",
                                                    kind="Absolute", stack=0))
        assert answer.status == "Accepted"
        assert duty(h) == pytest.approx(10.0, abs=0.01)  # 6 A < 8 A
        cleared = await csms.peer.call(call.ClearChargingProfile(charging_profile_id=7), suppress=False)
        assert cleared.status == "Accepted"
        await h.advance(RAISE_S)  # the core raises the offer at most every few seconds
        assert duty(h) == pytest.approx(13.33, abs=0.01)  # the 8 A cap remains (K10.FR.05)
        cleared = await csms.peer.call(call.ClearChargingProfile(
            charging_profile_criteria={"evse_id": 0,
                                       "charging_profile_purpose": "ChargingStationMaxProfile"}),
            suppress=False)
        assert cleared.status == "Accepted"
        await h.advance(RAISE_S)
        assert duty(h) == pytest.approx(53.33, abs=0.01)
        again = await csms.peer.call(call.ClearChargingProfile(charging_profile_id=7), suppress=False)
        assert again.status == "Unknown"  # K10.FR.01
        external = await csms.peer.call(call.ClearChargingProfile(charging_profile_criteria={
            "charging_profile_purpose": "ChargingStationExternalConstraints"}), suppress=False)
        assert external.status == "Unknown"  # K10.FR.08


async def test_refusals_carry_their_reason_and_change_nothing(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, tx = await charging(make_harness, csms)
        refused = {
            "UnknownEvse": (9, profile(1, 10, purpose="TxDefaultProfile")),  # K01.FR.28
            "TxNotFound": (1, profile(1, 10, transaction_id="not-this-one")),  # K01.FR.33
            "MissingParam": (1, profile(1, 10)),  # K01.FR.03
            "InvalidProfile": (0, profile(1, 10, transaction_id=tx)),  # K01.FR.16
            "InvalidStackLevel": (1, profile(1, 10, stack=99, transaction_id=tx)),  # ProfileStackLevel 8
            "InvalidSchedule": (1, profile(1, 10, transaction_id=tx, kind="Absolute") | {
                "charging_schedule": [{"id": 1, "charging_rate_unit": "A",  # no startSchedule: K01.FR.40
                                       "charging_schedule_period": [{"start_period": 0, "limit": 10}]}]}),
        }
        for code, (evse, body) in refused.items():
            answer = await set_profile(csms, evse, body)
            assert (answer.status, answer.status_info["reason_code"]) == ("Rejected", code), code
        max_on_evse = profile(2, 10, purpose="ChargingStationMaxProfile", kind="Absolute")
        answer = await set_profile(csms, 1, max_on_evse)  # K04.FR.03
        assert answer.status_info["reason_code"] == "InvalidProfile"
        relative_max = profile(2, 10, purpose="ChargingStationMaxProfile")
        assert (await set_profile(csms, 0, relative_max)).status == "Rejected"  # K01.FR.38
        assert duty(h) == pytest.approx(53.33, abs=0.01) and smart(h).entries == 0


async def test_a_rate_unit_outside_rate_unit_is_refused(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:  # [smart_charging] allowed_units sets SmartChargingCtrlr.RateUnit
        h, tx = await charging(make_harness, csms, smart_charging={"allowed_units": ["Current"]})
        answer = await set_profile(csms, 1, profile(1, 4140, unit="W", transaction_id=tx))
        assert answer.status_info["reason_code"] == "UnsupportedRateUnit"  # K01.FR.26
        assert csms.peer is not None
        watts = await csms.peer.call(
            call.GetCompositeSchedule(duration=60, evse_id=1, charging_rate_unit="W"), suppress=False)
        assert watts.status == "Rejected"  # K08.FR.07
        assert duty(h) == pytest.approx(53.33, abs=0.01)


async def test_stack_level_conflicts_are_duplicate_profiles(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, tx = await charging(make_harness, csms, connectors=[{"id": 1}, {"id": 2}])
        default = profile(20, 16, purpose="TxDefaultProfile", kind="Absolute",
                          valid_to="2030-12-31T00:00:00Z")
        assert (await set_profile(csms, 0, default)).status == "Accepted"
        assert duty(h) == pytest.approx(26.67, abs=0.01)  # 16 A from the TxDefaultProfile on EVSE 0
        # K01.FR.53: the same stackLevel on an EVSE while EVSE 0 has one; K01.FR.06: same EVSE and level.
        on_evse = await set_profile(csms, 1, {**default, "id": 21})
        assert (on_evse.status, on_evse.status_info["reason_code"]) == ("Rejected", "DuplicateProfile")
        twin = await set_profile(csms, 0, {**default, "id": 22})
        assert twin.status_info["reason_code"] == "DuplicateProfile"
        # Not overlapping in validity: allowed beside it; overlapping by a day: not.
        later = {**default, "id": 23, "valid_from": "2030-12-31T00:00:00Z", "valid_to": None}
        assert (await set_profile(csms, 0, later)).status == "Accepted"
        overlapping = {**default, "id": 24, "valid_from": "2030-12-30T00:00:00Z", "valid_to": None}
        assert (await set_profile(csms, 0, overlapping)).status == "Rejected"
        # K01.FR.39: two TxProfiles of one transaction at one stackLevel.
        assert (await set_profile(csms, 1, profile(30, 10, transaction_id=tx))).status == "Accepted"
        other = await set_profile(csms, 1, profile(31, 12, transaction_id=tx))
        assert other.status_info["reason_code"] == "DuplicateProfile"
        assert duty(h) == pytest.approx(16.67, abs=0.01)  # the TxProfile overrules the TxDefaultProfile
        assert sorted(p.id for p in h.app.smart_charging.profiles) == [20, 23, 30]


async def test_get_charging_profiles_reports_every_filter(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, tx = await charging(make_harness, csms, connectors=[{"id": 1}, {"id": 2}])
        await set_profile(csms, 0, profile(1, 16, purpose="TxDefaultProfile", kind="Absolute", stack=0))
        await set_profile(csms, 2, profile(2, 20, purpose="TxDefaultProfile", kind="Absolute", stack=3))
        await set_profile(csms, 1, profile(3, 10, transaction_id=tx, stack=2))
        await set_profile(csms, 0, profile(4, 40, purpose="ChargingStationMaxProfile", kind="Absolute"))
        assert csms.peer is not None
        request = 0

        async def report(criteria: dict[str, Any], evse_id: int | None = None) -> list[int] | None:
            nonlocal request
            request += 1
            before = len(csms.of("ReportChargingProfiles"))
            answer = await csms.peer.call(call.GetChargingProfiles(  # type: ignore[union-attr]
                request_id=request, charging_profile=criteria, evse_id=evse_id), suppress=False)
            if answer.status == "NoProfiles":
                return None
            def done() -> bool:
                reports = csms.of("ReportChargingProfiles")
                return len(reports) > before and not reports[-1].get("tbc")

            await eventually(done, h.clock, 0.1, within=5)
            parts = csms.of("ReportChargingProfiles")[before:]
            assert all(p["request_id"] == request and p["charging_limit_source"] == "CSO" for p in parts)
            assert [p.get("tbc", False) for p in parts] == [True] * (len(parts) - 1) + [False]  # K09.FR.02
            return sorted(c["id"] for p in parts for c in p["charging_profile"])

        assert await report({}) == [1, 2, 3, 4]  # K09.FR.06
        assert await report({}, evse_id=0) == [1, 4]  # K09.FR.05: the station's own only
        assert await report({}, evse_id=2) == [2]  # K09.FR.04
        assert await report({"charging_profile_purpose": "TxDefaultProfile"}) == [1, 2]
        assert await report({"stack_level": 2}) == [3]
        assert await report({"charging_profile_id": [4, 99]}) == [4]
        assert await report({"charging_limit_source": ["CSO"], "stack_level": 0}) == [1]
        assert await report({"charging_limit_source": ["EMS"]}) is None
        assert await report({"charging_profile_purpose": "TxProfile"}, evse_id=2) is None
        reported = [c for p in csms.of("ReportChargingProfiles") if p["evse_id"] == 1
                    for c in p["charging_profile"]]
        assert reported[0]["transaction_id"] == tx and reported[0]["charging_schedule"][0]["id"] == 1


async def test_composite_schedule_for_each_evse_and_the_station(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        _, tx = await charging(make_harness, csms, connectors=[{"id": 1}, {"id": 2}])
        await set_profile(csms, 1, profile(3, 10, transaction_id=tx))
        await set_profile(csms, 0, profile(4, 40, purpose="ChargingStationMaxProfile", kind="Absolute"))
        assert csms.peer is not None

        async def composite(evse: int, unit: str | None = None) -> Any:
            return await csms.peer.call(call.GetCompositeSchedule(  # type: ignore[union-attr]
                duration=600, evse_id=evse, charging_rate_unit=unit), suppress=False)

        one = await composite(1)
        assert one.status == "Accepted"
        assert one.schedule["evse_id"] == 1 and one.schedule["duration"] == 600
        assert one.schedule["charging_rate_unit"] == "A"
        assert one.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 10.0}]
        # EVSE 2 charges nothing now: as if a transaction ran (K08.FR.06), only the hardware and the cap.
        two = await composite(2, "W")
        assert two.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 22080.0}]
        station = await composite(0)  # K08.FR.03: the grid connection, capped at 40 A
        assert station.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 40.0}]
        assert (await composite(5)).status == "Rejected"  # K08.FR.05


async def test_enabled_false_is_not_supported(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, tx = await charging(make_harness, csms)
        assert csms.peer is not None
        await csms.peer.call(call.SetVariables(set_variable_data=[{
            "component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "Enabled"},
            "attribute_value": "false"}]), suppress=False)
        with pytest.raises(NotSupportedError):  # K01.FR.29
            await set_profile(csms, 1, profile(1, 10, transaction_id=tx))
        assert duty(h) == pytest.approx(53.33, abs=0.01)


async def test_request_start_profile_becomes_the_transactions_tx_profile(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h: Harness = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
        feature = smart(h)
        assert feature.accept_start_profile(1, profile(5, 10, purpose="TxDefaultProfile")) == (
            False, "InvalidProfile")  # K05.FR.02
        assert feature.accept_start_profile(1, profile(5, 10, transaction_id="x")) == (
            False, "InvalidProfile")  # F01.FR.11
        bad = profile(5, 10)
        bad["charging_schedule"][0]["charging_schedule_period"][0]["start_period"] = 5
        assert feature.accept_start_profile(1, bad) == (False, "InvalidSchedule")  # K01.FR.31
        assert feature.accept_start_profile(1, profile(5, 10)) == (True, None)
        h.sim.plug()
        await eventually(lambda: duty(h) is not None, h.clock, 0.1, within=15)
        assert duty(h) == pytest.approx(16.67, abs=0.01)  # 10 A from the first offer on
        await eventually(lambda: csms.of("TransactionEvent"), h.clock, 0.1, within=15)
        tx = csms.of("TransactionEvent")[0]["transaction_info"]["transaction_id"]
        installed = h.app.smart_charging.profiles
        assert [(p.id, p.transaction_id) for p in installed] == [(5, tx)]  # F01.FR.10: that transaction's


async def test_a_tx_profile_lasts_as_long_as_its_transaction(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        ocpp = {**section(csms.url), "device_model": {"TxCtrlr.TxStopPoint": "EVConnected"}}
        h: Harness = await make_harness(ocpp=ocpp)
        await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
        h.sim.plug()
        await eventually(lambda: csms.of("TransactionEvent"), h.clock, 0.1, within=15)
        tx = csms.of("TransactionEvent")[0]["transaction_info"]["transaction_id"]
        assert (await set_profile(csms, 1, profile(7, 10, transaction_id=tx))).status == "Accepted"

        # The session ends (a technician's stop); the transaction runs on until the cable goes.
        assert h.station.stop_session(1, StopReason.LOCAL)
        await eventually(lambda: h.station.session_of(1) is None, h.clock, 0.1, within=15)
        await h.advance(METER_SETTLE_S + 1)  # the session's end is final (its SessionStopped is out)
        assert csms.peer is not None
        asked = await csms.peer.call(call.GetChargingProfiles(request_id=1, evse_id=1, charging_profile={
            "charging_profile_purpose": "TxProfile"}), suppress=False)
        assert asked.status == "Accepted"  # still the transaction's TxProfile
        h.sim.unplug()
        await eventually(lambda: csms.of("TransactionEvent")[-1]["event_type"] == "Ended", h.clock, 0.1,
                         within=15)
        gone = await csms.peer.call(call.GetChargingProfiles(request_id=2, evse_id=1, charging_profile={
            "charging_profile_purpose": "TxProfile"}), suppress=False)
        assert gone.status == "NoProfiles"
