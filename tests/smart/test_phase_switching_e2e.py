"""Phase switching end to end: a profile asking for one phase moves a charging car from 3 to 1 phase
safely (PWM off, contactor open, switch, resume), and the phase switch never moves under load."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16


def one_phase_profile(limit: float) -> dict[str, Any]:
    return {"charging_profile_id": 5, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": limit, "number_phases": 1}]}}


async def test_switch_to_one_phase_and_back(make_harness: Any) -> None:
    h = await make_harness(connectors=[{"id": 1, "hal": {"phase_switch": {"driver": "fake"}}}])
    h.sim.plug()
    await h.advance(3)
    assert h.sim.phase_switch.commanded_closed and h.station.phases_in_use(1) == 3
    assert h.sim.meter_state()[1] == pytest.approx((32, 32, 32))
    main_states: list[tuple[bool, bool]] = []
    h.sim.contactor.subscribe_feedback(
        lambda closed: main_states.append((closed, h.sim.phase_switch.commanded_closed)))

    accepted, _ = V16(h.app.smart_charging).install(1, one_phase_profile(16), None)
    assert accepted
    await h.advance(120)
    assert h.station.phases_in_use(1) == 1
    assert h.sim.contactor.commanded_closed and not h.sim.phase_switch.commanded_closed
    assert h.sim.meter_state()[1] == pytest.approx((16, 0, 0))
    # the phase switch only ever moved while the main contactor was open
    assert (False, True) in main_states and (True, False) in main_states
    assert all(not (closed and switch) for closed, switch in main_states[1:])

    assert V16(h.app.smart_charging).clear(5, None, None, None)
    await h.advance(200)
    assert h.station.phases_in_use(1) == 3
    assert h.sim.meter_state()[1] == pytest.approx((32, 32, 32))
