"""Every injectable fault shows up on the simulated parts the way real hardware shows it, and clears."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hal.clock import SimClock
from hal.fake import FAULT_NAMES, SimulatedConnector
from hal.types import PILOT_HIGH, CableAmpacity, CPState, PilotOutput, PilotReading, ProximityReading


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def conn(clock: SimClock) -> SimulatedConnector:
    return SimulatedConnector(1, clock, ev_max_current_a=32.0, on_power_cut=lambda: None)


async def charge(conn: SimulatedConnector, clock: SimClock, amps: float = 16.0) -> None:
    conn.plug()
    conn.pilot.set_output(PilotOutput.pwm(amps / 0.6))
    await clock.advance(1.0)
    conn.contactor.close()


async def test_diode_fault_mirrors_the_negative_half_and_latches_until_unplug(
        conn: SimulatedConnector, clock: SimClock) -> None:
    seen: list[PilotReading] = []
    conn.pilot.subscribe(seen.append)
    await charge(conn, clock)
    seen.clear()
    conn.inject("diode")
    assert conn.pilot.read() == PilotReading(CPState.C, 6.0, -6.0, diode_fault=True)
    assert seen == [conn.pilot.read()]
    # a real driver keeps the diode fault latched (docs/reference/hardware.md §1.3)
    conn.pilot.set_output(PILOT_HIGH)
    assert conn.pilot.read().diode_fault
    conn.unplug()
    assert conn.pilot.read() == PilotReading(CPState.A, 12.0, 12.0)
    conn.plug()
    assert not conn.pilot.read().diode_fault  # no PWM: a diode cannot be checked
    conn.pilot.set_output(PilotOutput.pwm(30.0))
    assert conn.pilot.read().diode_fault
    conn.clear("diode")
    assert conn.pilot.read() == PilotReading(CPState.B, 9.0, -12.0)


async def test_cp_short_reads_e_and_the_ev_stops(conn: SimulatedConnector, clock: SimClock) -> None:
    states: list[CPState] = []
    conn.pilot.subscribe(lambda r: states.append(r.state))
    await charge(conn, clock)
    conn.inject("cp-short")
    assert conn.pilot.read() == PilotReading(CPState.E, 0.0, 0.0)
    await clock.advance(1.0)
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]  # the EV lost its offer
    conn.clear("cp-short")
    assert conn.pilot.read().state is CPState.B
    await clock.advance(1.0)
    assert states == [CPState.B, CPState.C, CPState.E, CPState.B, CPState.C]


async def test_rcd_trip_and_self_test(conn: SimulatedConnector) -> None:
    trips: list[bool] = []
    conn.rcm.subscribe(trips.append)
    assert (await conn.rcm.self_test()).passed
    conn.inject("rcd")
    assert conn.rcm.tripped
    assert not (await conn.rcm.self_test()).passed
    conn.clear("rcd")
    assert trips == [True, False]
    conn.inject("rcd-selftest")
    assert not (await conn.rcm.self_test()).passed
    assert not conn.rcm.tripped
    conn.clear("rcd-selftest")
    assert (await conn.rcm.self_test()).passed


async def test_welded_contactor_keeps_feedback_and_current_after_open(
        conn: SimulatedConnector, clock: SimClock) -> None:
    feedback: list[bool] = []
    conn.contactor.subscribe_feedback(feedback.append)
    await charge(conn, clock)
    conn.inject("welded")
    conn.contactor.open()
    assert not conn.contactor.commanded_closed
    assert conn.contactor.feedback_closed is True
    assert conn.snapshot()["drawn_a"][0] == pytest.approx(16.0)
    conn.clear("welded")
    assert conn.contactor.feedback_closed is False
    assert feedback == [True, False]


async def test_welded_while_open_welds_at_the_next_close(conn: SimulatedConnector) -> None:
    conn.inject("welded")
    assert conn.contactor.feedback_closed is False
    conn.contactor.close()
    conn.contactor.open()
    assert conn.contactor.feedback_closed is True


async def test_feedback_missing_contactor_does_not_pull_in(conn: SimulatedConnector, clock: SimClock) -> None:
    feedback: list[bool] = []
    conn.contactor.subscribe_feedback(feedback.append)
    conn.inject("feedback-missing")
    await charge(conn, clock)
    assert conn.contactor.commanded_closed
    assert conn.contactor.feedback_closed is False
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]
    conn.clear("feedback-missing")
    assert conn.contactor.feedback_closed is True
    assert feedback == [True]


async def test_lock_failure(conn: SimulatedConnector) -> None:
    conn.inject("lock")
    assert await conn.lock.lock() is False
    assert conn.lock.locked is False
    conn.clear("lock")
    assert await conn.lock.lock() is True
    assert conn.lock.locked is True
    assert await conn.lock.unlock() is True
    assert conn.lock.locked is False


async def test_temperature_and_over_temperature(conn: SimulatedConnector) -> None:
    assert await conn.temperature.read_celsius() == 25.0
    conn.set_temperature(66.5)
    assert await conn.temperature.read_celsius() == 66.5
    conn.inject("over-temperature")
    assert await conn.temperature.read_celsius() == 80.0
    conn.clear("over-temperature")
    assert await conn.temperature.read_celsius() == 66.5
    with pytest.raises(ValueError):
        conn.set_temperature(500.0)


def test_proximity_reports_the_cable_and_the_pp_fault(conn: SimulatedConnector) -> None:
    readings: list[ProximityReading] = []
    conn.proximity.subscribe(readings.append)
    assert conn.proximity.read() == ProximityReading(CableAmpacity.NONE, None)
    conn.plug()
    assert conn.proximity.read() == ProximityReading(CableAmpacity.A32, 220.0)
    conn.inject("pp")
    assert conn.proximity.read().fault
    assert conn.proximity.read().ampacity is CableAmpacity.NONE
    conn.clear("pp")
    conn.unplug()
    assert [r.ampacity for r in readings] == [CableAmpacity.A32, CableAmpacity.NONE, CableAmpacity.A32,
                                              CableAmpacity.NONE]


async def test_overdraw_draws_one_and_a_half_times_the_offer(
        conn: SimulatedConnector, clock: SimClock) -> None:
    await charge(conn, clock, amps=16.0)
    conn.inject("overdraw")
    assert conn.snapshot()["drawn_a"] == pytest.approx([24.0, 24.0, 24.0])
    conn.clear("overdraw")
    assert conn.snapshot()["drawn_a"] == pytest.approx([16.0, 16.0, 16.0])


def test_power_cut_calls_the_handler(clock: SimClock) -> None:
    cuts: list[int] = []
    conn = SimulatedConnector(1, clock, on_power_cut=lambda: cuts.append(1))
    conn.inject("power-cut")
    assert cuts == [1]
    conn.clear("power-cut")


def test_power_cut_kills_the_process_by_default() -> None:
    code = ("from hal.clock import SimClock\n"
            "from hal.fake import SimulatedConnector\n"
            "SimulatedConnector(1, SimClock()).inject('power-cut')\n"
            "print('survived')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 137
    assert "survived" not in done.stdout


def test_unknown_fault_lists_the_valid_names(conn: SimulatedConnector) -> None:
    with pytest.raises(ValueError, match="unknown fault 'smoke'") as info:
        conn.inject("smoke")
    for name in FAULT_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError):
        conn.clear("smoke")


def test_snapshot_lists_active_faults(conn: SimulatedConnector) -> None:
    conn.inject("rcd")
    conn.inject("pp")
    assert conn.snapshot()["faults"] == ["pp", "rcd"]
