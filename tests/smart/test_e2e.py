"""End to end on the real core and the simulated hardware: a real websocket CSMS sends charging profiles,
the PWM duty and the EV's current follow; pause/resume; restart keeps profiles; demand response;
load management; `limit` through the control socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import ChargePoint, call

from firmware.core.events import SessionStopped
from firmware.core.published import status_label
from firmware.ocpp.v16.smart_charging import SmartChargingHandlers
from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16
from hal.clock import SimClock
from hal.types import PilotOutputMode
from tools.bench.ocpp_loopback import csms_and_charger


class _CP(SmartChargingHandlers, ChargePoint):  # type: ignore[misc]
    station: Any

    def active_transaction_id(self, connector_id: int) -> int | None:
        return 100 + connector_id if self.station.session_of(connector_id) else None


def duty(h: Any, connector_id: int = 1) -> float | None:
    out = h.sim_connector(connector_id).pilot.output
    return out.duty_percent if out.mode == PilotOutputMode.PWM else None


def drawn(h: Any, connector_id: int = 1) -> tuple[float, ...]:
    return tuple(round(a, 1) for a in h.sim_connector(connector_id).meter_state()[1])


def tx_profile(id: int, limit: float, unit: str = "A", **period: Any) -> dict[str, Any]:
    return {"charging_profile_id": id, "stack_level": 1, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": unit, "charging_schedule_period": [
                {"start_period": 0, "limit": limit, **period}]}}


async def charging(make_harness: Any, **kw: Any) -> Any:
    h = await make_harness(**kw)
    h.sim.plug()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    await h.advance(10)
    return h


async def test_profile_reaches_the_pwm_and_the_ev_follows(make_harness: Any) -> None:
    h = await charging(make_harness)
    assert duty(h) == pytest.approx(53.33, abs=0.01)  # 32 A
    smart = V16(h.app.smart_charging)
    async with csms_and_charger(_CP, smart_charging=smart, station=h.station) as (csms, _):
        result = await csms.call(call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=tx_profile(1, 10)), suppress=False)
        assert result.status == "Accepted"
        assert duty(h) == pytest.approx(16.67, abs=0.01)  # already applied when the answer arrived
        await h.advance(2)
        assert drawn(h) == (10.0, 10.0, 10.0)
        # 4140 W on three phases at 230 V = 6 A.
        await csms.call(call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=tx_profile(1, 4140, "W")), suppress=False)
        assert duty(h) == pytest.approx(10.0, abs=0.01)
        await h.advance(2)
        assert drawn(h) == (6.0, 6.0, 6.0)


async def test_limit_zero_pauses_and_a_later_profile_resumes(make_harness: Any) -> None:
    h = await charging(make_harness, smart_charging={"min_pause_s": 30})
    smart = V16(h.app.smart_charging)
    async with csms_and_charger(_CP, smart_charging=smart, station=h.station) as (csms, _):
        await csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile(1, 0)),
                        suppress=False)
        assert h.sim.pilot.output.mode == PilotOutputMode.HIGH
        await h.advance(3)
        assert status_label(h.connector().state) == "SuspendedEVSE"
        assert drawn(h) == (0.0, 0.0, 0.0)
        await csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile(1, 16)),
                        suppress=False)
        await h.advance(25)
        assert status_label(h.connector().state) == "SuspendedEVSE"  # smart charging's minimum pause: 30 s
        await h.advance(10)
        assert duty(h) == pytest.approx(26.67, abs=0.01)
        await h.advance(3)
        assert status_label(h.connector().state) == "Charging"
        assert drawn(h) == (16.0, 16.0, 16.0)


async def test_profiles_survive_a_restart_and_tx_profiles_end_with_the_session(
        make_harness: Any, short_dir: Path) -> None:
    h = await charging(make_harness)
    service = h.app.smart_charging
    assert V16(service).install(0, {"charging_profile_id": 7, "stack_level": 0,
                               "charging_profile_purpose": "TxDefaultProfile",
                               "charging_profile_kind": "Relative", "charging_schedule": {
                                   "charging_rate_unit": "A",
                                   "charging_schedule_period": [{"start_period": 0, "limit": 13}]}}, None)[0]
    assert V16(service).install(1, tx_profile(8, 10), 101)[0]
    assert duty(h) == pytest.approx(16.67, abs=0.01)  # the TxProfile wins over the TxDefault
    h.sim.unplug()
    await h.advance(3)
    assert [e.connector_id for e in h.of_type(SessionStopped)] == [1]
    assert [p.id for p in service.profiles] == [7]
    await h.app.stop()

    clock = SimClock()
    again = await make_harness(state_dir=short_dir, clock=clock)
    assert [p.id for p in again.app.smart_charging.profiles] == [7]
    again.sim.plug()
    await again.advance(3)
    assert duty(again) == pytest.approx(21.67, abs=0.01)  # 13 A from the persisted TxDefault


async def test_demand_response_input_caps_the_power(make_harness: Any) -> None:
    h = await charging(make_harness, station={"hal": {"demand_response": {"driver": "fake"}}},
                       demand_response={"enabled": True, "power_w": 4200})
    assert h.app.simulation is not None and h.app.simulation.demand_response is not None
    h.app.simulation.demand_response.set(True)
    await h.advance(3)
    assert duty(h) == pytest.approx(10.0, abs=0.01)  # 4200 W / 690 V = 6.08 A -> 6 A
    assert drawn(h) == (6.0, 6.0, 6.0)
    assert h.station.snapshot()["demand_response"]["active"] is True
    h.app.simulation.demand_response.set(False)
    await h.advance(8)
    assert drawn(h) == (32.0, 32.0, 32.0)


async def test_load_management_shares_the_site_limit(make_harness: Any) -> None:
    h = await make_harness(connectors=[{"id": 1}, {"id": 2}],
                           load_management={"enabled": True, "site_limit_a": 20})
    h.sim_connector(1).plug()
    await h.advance(3)
    assert drawn(h, 1) == (20.0, 20.0, 20.0)
    h.sim_connector(2).plug()
    await h.advance(3)
    assert drawn(h, 1) == (10.0, 10.0, 10.0) and drawn(h, 2) == (10.0, 10.0, 10.0)


async def test_external_limit_through_the_control_socket(make_harness: Any) -> None:
    h = await charging(make_harness)
    reply = await h.app.control.dispatch({"command": "limit", "args": {"action": "set", "amps": 8,
                                                                         "for_s": 60}})
    assert reply["ok"], reply
    assert duty(h) == pytest.approx(13.33, abs=0.01)
    await h.advance(70)
    assert duty(h) == pytest.approx(53.33, abs=0.01)
