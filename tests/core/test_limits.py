"""Limit sources on the PWM: lowering at once, raising at most every 5 s, pausing below 6 A, C1 timeout."""

import pytest

from firmware.core.events import OfferChanged
from firmware.core.published import status_label
from hal.types import CableAmpacity, PilotOutputMode


async def charging(make_harness, **kw):
    h = await make_harness(**kw)
    h.sim.plug()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    return h


def duty(h):
    out = h.sim.pilot.output
    return out.duty_percent if out.mode == PilotOutputMode.PWM else None


async def test_lowering_is_immediate_and_raising_waits_5_seconds(make_harness):
    h = await charging(make_harness)
    await h.advance(10)
    h.station.set_limit("external", 10)
    assert duty(h) == pytest.approx(16.67, abs=0.01)  # same call, no loop iteration needed
    h.station.set_limit("external", 20)
    await h.settle()
    assert duty(h) == pytest.approx(16.67, abs=0.01)
    await h.advance(4.9)
    assert duty(h) == pytest.approx(16.67, abs=0.01)
    await h.advance(0.2)
    assert duty(h) == pytest.approx(33.33, abs=0.01)
    await h.advance(2)
    assert h.sim.meter_state()[1] == pytest.approx((20, 20, 20))  # the EV followed
    offers = [(e.offered_a, e.reason) for e in h.of_type(OfferChanged)]
    assert offers[-2:] == [(10, "external"), (20, "external")]


async def test_below_6_amps_pauses_with_pwm_off_and_resumes(make_harness):
    h = await charging(make_harness)
    h.station.set_limit("smart_charging", 0)
    await h.settle()
    assert status_label(h.connector().state) == "SuspendedEVSE"
    assert h.sim.pilot.output.mode == PilotOutputMode.HIGH  # x1
    await h.advance(2)  # the EV sees x1 and goes to B; the contactor opens
    assert not h.sim.contactor.commanded_closed
    h.station.set_limit("smart_charging", 8)
    await h.advance(5)
    assert status_label(h.connector().state) == "SuspendedEVSE"  # minimum pause of 10 s: no flapping
    await h.advance(6)
    assert duty(h) == pytest.approx(13.33, abs=0.01)
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    assert h.sim.contactor.commanded_closed
    assert h.sim.meter_state()[1] == pytest.approx((8, 8, 8))


async def test_c1_ev_ignoring_pwm_off_is_cut_after_6_seconds(make_harness):
    h = await charging(make_harness)
    h.sim.set_ev_state("C")  # a car that stays in C whatever the pilot says (the "Kona" case)
    h.station.set_limit("external", 3)
    await h.settle()
    assert h.sim.pilot.output.mode == PilotOutputMode.HIGH
    await h.advance(5.9)
    assert h.sim.contactor.commanded_closed  # the EV gets 6 s to stop drawing
    await h.advance(0.2)
    assert not h.sim.contactor.commanded_closed


async def test_remote_stop_waits_for_the_ev_then_ends_the_session(make_harness):
    from firmware.core.events import SessionStopped
    from firmware.core.vocabulary import StopReason

    h = await charging(make_harness)
    assert h.station.stop_session(1, StopReason.REMOTE)
    await h.settle()
    assert h.sim.pilot.output.mode == PilotOutputMode.HIGH
    await h.advance(2)
    assert not h.sim.contactor.commanded_closed
    stopped, = h.of_type(SessionStopped)
    assert stopped.reason == StopReason.REMOTE
    assert status_label(h.connector().state) == "Finishing"
    h.sim.unplug()
    await h.settle()
    assert status_label(h.connector().state) == "Available"


async def test_cable_ampacity_from_pp_limits_the_offer(make_harness):
    h = await make_harness()
    h.sim._world.cable_ampacity = CableAmpacity.A20  # a 20 A cable (680 ohm) in a 32 A socket
    h.sim.plug()
    await h.advance(2)
    doc = h.station.snapshot()["connectors"][0]
    assert doc["limits"]["cable"] == 20
    assert (doc["offered_a"], doc["limit_reason"]) == (20, "cable")
    h.sim.unplug()
    await h.settle()
    assert "cable" not in h.station.snapshot()["connectors"][0]["limits"]

