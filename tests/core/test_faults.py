"""Every fault: the contactor opens, the right OCPP error is reported, and it clears as it should."""

import threading

import pytest

from firmware.core.events import FaultChanged, StatusChanged
from firmware.core.published import error_label, status_label
from firmware.core.vocabulary import FAULTS
from hal.types import PilotOutputMode


async def charging(make_harness, **kw):
    h = await make_harness(**kw)
    h.sim.plug()
    await h.advance(2)
    assert h.sim.contactor.commanded_closed
    return h


def last_status(h):
    return h.of_type(StatusChanged)[-1]


async def test_rcd_trip_opens_at_once_then_f_for_300ms(make_harness):
    h = await charging(make_harness)
    h.sim.inject("rcd")
    assert not h.sim.contactor.commanded_closed  # synchronously, in the caller's thread
    await h.settle()
    status = last_status(h)
    assert (status_label(status.state), error_label(status.fault), FAULTS[status.fault].vendor_code) == \
        ("Faulted", "GroundFailure", "CX002")
    assert h.sim.pilot.output.mode == PilotOutputMode.NEGATIVE  # state F ...
    await h.advance(0.29)
    assert h.sim.pilot.output.mode == PilotOutputMode.NEGATIVE
    await h.advance(0.02)
    assert h.sim.pilot.output.mode == PilotOutputMode.HIGH  # ... for 300 ms, then x1
    h.sim.clear("rcd")
    await h.advance(2)
    assert status_label(h.connector().state) == "Faulted"  # latched: the monitor resetting is not enough
    from firmware.core.vocabulary import Fault
    assert h.station.clear_fault(1, Fault.RCD_TRIP)
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"  # the session survives a technician's clear
    assert h.sim.contactor.commanded_closed


@pytest.mark.parametrize(("fault", "error_code"), [
    ("diode", "EVCommunicationError"),
    ("cp-short", "EVCommunicationError"),
    ("pp", "OtherError"),
])
async def test_pilot_faults_latch_until_unplug(make_harness, fault, error_code):
    h = await charging(make_harness)
    h.sim.inject(fault)
    assert not h.sim.contactor.commanded_closed
    await h.advance(1)
    assert status_label(last_status(h).state) == "Faulted"
    assert error_label(last_status(h).fault) == error_code
    h.sim.clear(fault)
    await h.advance(2)
    assert status_label(h.connector().state) == "Faulted"  # still latched while plugged
    assert not h.sim.contactor.commanded_closed
    h.sim.unplug()
    await h.advance(1)
    assert status_label(h.connector().state) == "Available"
    assert h.connector().faults == set()


async def test_welded_contactor_is_latched_until_a_technician_clears_it(make_harness):
    h = await charging(make_harness)
    h.sim.inject("welded")
    h.sim.pause()  # C -> B: the contactor is commanded open but the contacts stay closed
    await h.advance(0.2)
    assert status_label(h.connector().state) == "SuspendedEV"
    await h.advance(0.1)  # 250 ms feedback window passed
    assert error_label(last_status(h).fault) == "PowerSwitchFailure"
    assert status_label(last_status(h).state) == "Faulted"
    h.sim.unplug()
    await h.advance(1)
    assert status_label(h.connector().state) == "Faulted"  # welded survives unplug
    h.sim.clear("welded")
    h.sim.plug()
    await h.advance(3)
    assert not h.sim.contactor.commanded_closed  # never closes again until cleared


async def test_technician_clear_of_a_welded_fault(make_harness):
    from firmware.core.vocabulary import Fault

    h = await charging(make_harness)
    h.sim.inject("welded")
    h.sim.pause()
    await h.advance(1)
    assert Fault.CONTACTOR_WELDED in h.connector().faults
    h.sim.clear("welded")
    h.sim.resume()
    await h.advance(3)
    assert not h.sim.contactor.commanded_closed
    assert h.station.clear_fault(1, Fault.CONTACTOR_WELDED) is True
    await h.advance(3)
    assert status_label(h.connector().state) == "Charging"
    assert h.sim.contactor.commanded_closed


async def test_feedback_missing_opens_and_latches(make_harness):
    h = await make_harness()
    h.sim.inject("feedback-missing")
    h.sim.plug()
    await h.advance(1.2)  # EV asks after 1 s; the contactor is commanded closed
    await h.advance(0.3)
    assert error_label(last_status(h).fault) == "PowerSwitchFailure"
    assert not h.sim.contactor.commanded_closed


async def test_over_temperature_derates_then_stops(make_harness):
    h = await charging(make_harness)
    h.sim.set_temperature(66)
    await h.advance(5)
    doc = h.station.snapshot()["connectors"][0]
    assert (doc["limit_a"], doc["limit_reason"]) == (16, "temperature")
    assert doc["offered_a"] == 16  # lowering applies at once
    h.sim.inject("over-temperature")  # 80 °C
    await h.advance(5)
    assert not h.sim.contactor.commanded_closed
    assert error_label(last_status(h).fault) == "HighTemperature"
    h.sim.clear("over-temperature")
    h.sim.set_temperature(40)
    await h.advance(20)
    assert status_label(h.connector().state) == "Charging"
    assert h.station.snapshot()["connectors"][0]["offered_a"] == 32


async def test_over_current_for_7_seconds_faults(make_harness):
    h = await charging(make_harness, connectors=[{"id": 1, "max_current_a": 16}])
    h.sim.inject("overdraw")  # draws 24 A with 16 A offered; allowed (16 + 0.5) x 1.1 = 18.15 A
    await h.advance(6)
    assert h.sim.contactor.commanded_closed
    await h.advance(3)
    assert not h.sim.contactor.commanded_closed
    assert error_label(last_status(h).fault) == "OverCurrentFailure"


async def test_meter_offline_keeps_charging_and_reports_power_meter_failure(make_harness):
    h = await charging(make_harness)
    await h.advance(60)
    h.sim.inject("meter-offline")
    await h.advance(10)
    status = last_status(h)
    assert (status_label(status.state), error_label(status.fault)) == ("Charging", "PowerMeterFailure")
    assert h.sim.contactor.commanded_closed
    h.sim.clear("meter-offline")
    await h.advance(2)
    assert error_label(last_status(h).fault) == "NoError"


async def test_emergency_stop_opens_everything_and_ends_sessions(make_harness):
    h = await make_harness(station={"hal": {"emergency_stop": {"driver": "fake"}}},
                           connectors=[{"id": 1}, {"id": 2}])
    for cid in (1, 2):
        h.sim_connector(cid).plug()
    await h.advance(2)
    assert all(h.sim_connector(c).contactor.commanded_closed for c in (1, 2))
    assert h.app.simulation is not None and h.app.simulation.emergency_stop is not None
    h.app.simulation.emergency_stop.set(True)
    assert not any(h.sim_connector(c).contactor.commanded_closed for c in (1, 2))
    await h.advance(1)
    from firmware.core.events import SessionStopped
    assert sorted(e.reason.value for e in h.of_type(SessionStopped)) == ["EmergencyStop"] * 2
    assert {status_label(h.connector(c).state) for c in (1, 2)} == {"Faulted"}


async def test_safety_path_runs_in_the_reporting_thread(make_harness):
    """A CP change reported from another thread (like the ADC sampler) opens before the loop runs."""
    h = await charging(make_harness)
    done = threading.Event()

    def unplug_from_sampler_thread():
        h.sim.unplug()
        done.set()

    thread = threading.Thread(target=unplug_from_sampler_thread)
    thread.start()
    thread.join()
    assert done.is_set()
    assert not h.sim.contactor.commanded_closed  # the loop has not run a single callback yet
    await h.settle()
    assert status_label(h.connector().state) == "Available"
    assert any(isinstance(e, FaultChanged) for e in h.events) is False


async def test_rcm_self_test_before_each_session_and_every_24_hours(make_harness):
    h = await make_harness()
    first = h.connector().rcm_self_test
    assert first is not None and first["passed"]  # at start-up
    await h.advance(10)
    h.sim.plug()
    await h.advance(2)
    assert h.connector().rcm_self_test["at"] != first["at"]  # again before the session
    h.sim.unplug()
    await h.settle()
    h.sim.inject("rcd-selftest")
    await h.advance(25 * 3600)  # the daily test finds the broken monitor
    assert not h.connector().rcm_self_test["passed"]
    assert error_label(last_status(h).fault) == "GroundFailure"
    h.sim.clear("rcd-selftest")
    h.sim.plug()
    await h.advance(3)
    assert not h.sim.contactor.commanded_closed  # latched until a technician clears it
    from firmware.core.vocabulary import Fault
    assert h.station.clear_fault(1, Fault.RCD_SELFTEST)
    await h.advance(3)
    assert h.sim.contactor.commanded_closed


async def test_a_fault_does_not_start_a_second_session(make_harness):
    from firmware.core.events import SessionStarted

    h = await charging(make_harness)
    h.sim.inject("rcd")
    await h.advance(1)  # state F for 300 ms, then +12 V: the car shows B again
    h.sim.clear("rcd")
    from firmware.core.vocabulary import Fault
    assert h.station.clear_fault(1, Fault.RCD_TRIP)
    await h.advance(3)
    assert len(h.of_type(SessionStarted)) == 1
    assert status_label(h.connector().state) == "Charging"
