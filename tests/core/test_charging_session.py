"""A whole standalone (free charging) session and the IEC 61851 transitions around it."""

import pytest

from firmware.core.events import ContactorChanged, SessionStarted, SessionStopped
from firmware.core.published import error_label, status_label
from hal.types import PilotOutputMode


async def plug_and_charge(h):
    h.sim.plug()
    await h.advance(2)  # EV reaction 1 s
    assert status_label(h.connector().state) == "Charging"


async def test_plug_charge_unplug(make_harness):
    h = await make_harness()
    assert h.statuses() == ["Available"]
    h.sim.plug()
    await h.settle()
    # free charging: the session starts at plug-in; the EV still has to ask (B2 -> SuspendedEV)
    assert status_label(h.connector().state) == "SuspendedEV"
    assert h.sim.pilot.output.mode == PilotOutputMode.PWM
    assert h.sim.pilot.output.duty_percent == pytest.approx(53.33, abs=0.01)  # 32 A
    assert not h.sim.contactor.commanded_closed
    await h.advance(1.5)
    assert status_label(h.connector().state) == "Charging"
    assert h.sim.contactor.commanded_closed
    await h.advance(3600)
    energy, current = h.sim.meter_state()
    assert current == pytest.approx((32, 32, 32))
    assert energy == pytest.approx(3 * 32 * 230, rel=0.01)  # one hour at 22 kW
    h.sim.unplug()
    assert not h.sim.contactor.commanded_closed  # opened synchronously, before the loop ran
    await h.settle()
    assert h.statuses() == ["Available", "Preparing", "SuspendedEV", "Charging", "Available"] \
        or h.statuses() == ["Available", "SuspendedEV", "Charging", "Available"]
    assert h.of_type(SessionStopped) == []  # reported once the final meter reading settled
    await h.advance(1)
    started, = h.of_type(SessionStarted)
    stopped, = h.of_type(SessionStopped)
    assert stopped.session_id == started.session_id
    assert stopped.reason.value == "EVDisconnected"
    assert stopped.meter_stop_wh - started.meter_start_wh == pytest.approx(22080, rel=0.01)
    assert [e.closed for e in h.of_type(ContactorChanged)] == [True, False]


async def test_ev_pause_and_resume(make_harness):
    h = await make_harness()
    await plug_and_charge(h)
    h.sim.pause()
    assert not h.sim.contactor.commanded_closed  # C -> B opens at once
    await h.settle()
    assert status_label(h.connector().state) == "SuspendedEV"
    assert h.sim.pilot.output.mode == PilotOutputMode.PWM  # still offering
    h.sim.resume()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    assert h.sim.contactor.commanded_closed


async def test_close_waits_for_the_lock(make_harness):
    h = await make_harness()
    h.sim.inject("lock")
    h.sim.plug()
    await h.advance(3)
    assert not h.sim.contactor.commanded_closed
    assert status_label(h.connector().state) == "Faulted"
    assert error_label(h.connector().leading_fault()[0]) == "ConnectorLockFailure"
    h.sim.unplug()
    await h.settle()
    assert status_label(h.connector().state) == "Available"  # lock fault clears on unplug


async def test_state_d_needs_ventilation(make_harness):
    h = await make_harness()
    h.sim.plug()
    await h.advance(2)
    h.sim.set_ev_state("D")
    assert not h.sim.contactor.commanded_closed
    await h.settle()
    assert status_label(h.connector().state) == "Faulted"
    h.sim.unplug()
    await h.settle()
    v = await make_harness(connectors=[{"id": 1, "ventilation": True}],
                           station={"state_dir": str(h.app.settings.station.state_dir / "v")})
    v.sim.plug()
    v.sim.set_ev_state("D")
    await v.advance(2)
    assert status_label(v.connector().state) == "Charging"
    assert v.sim.contactor.commanded_closed


async def test_configured_maximum_and_cable_limit_the_offer(make_harness):
    h = await make_harness(connectors=[{"id": 1, "max_current_a": 16}])
    await plug_and_charge(h)
    doc = h.station.snapshot()["connectors"][0]
    assert doc["offered_a"] == 16
    assert doc["limit_reason"] == "configured"
    assert doc["pwm_duty_percent"] == pytest.approx(26.67, abs=0.01)
    await h.advance(5)
    assert h.sim.meter_state()[1] == pytest.approx((16, 16, 16))


async def test_the_stop_is_reported_after_the_contactor_opened_even_if_the_meter_then_fails(make_harness):
    h = await make_harness()
    await plug_and_charge(h)
    await h.advance(60.5)
    energy_before_unplug, _ = h.sim.meter_state()
    h.sim.inject("meter-offline")
    h.sim.unplug()
    await h.advance(2)
    stopped, = h.of_type(SessionStopped)
    assert stopped.reason.value == "EVDisconnected"
    # the final read failed: the last poll (at most one poll period before the unplug) is reported
    assert energy_before_unplug - 22080 / 3600 * 1.5 <= stopped.meter_stop_wh <= energy_before_unplug
