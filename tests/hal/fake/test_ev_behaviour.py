"""The simulated EV and pilot: CP levels, reaction to the offer, drawing current, going back to B."""

from __future__ import annotations

import pytest

from hal.clock import SimClock
from hal.fake import SimulatedConnector
from hal.types import PILOT_F, PILOT_HIGH, PILOT_OFF, CPState, PilotOutput, PilotReading


def duty_for(amps: float) -> PilotOutput:
    return PilotOutput.pwm(amps / 0.6)  # docs/reference/hardware.md §1.2, 6..51 A


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def conn(clock: SimClock) -> SimulatedConnector:
    return SimulatedConnector(1, clock, ev_max_current_a=16.0, ev_reaction_s=1.0)


async def charging(conn: SimulatedConnector, clock: SimClock, amps: float = 32.0) -> None:
    conn.plug()
    conn.pilot.set_output(duty_for(amps))
    await clock.advance(1.0)
    conn.contactor.close()


def test_unplugged_reads_a_and_levels_follow_the_output(conn: SimulatedConnector) -> None:
    assert conn.pilot.read() == PilotReading(CPState.A, 12.0, 12.0)
    conn.pilot.set_output(duty_for(16))
    assert conn.pilot.read() == PilotReading(CPState.A, 12.0, -12.0)
    conn.pilot.set_output(PILOT_F)
    assert conn.pilot.read().state is CPState.F
    assert conn.pilot.read().positive_v == -12.0
    conn.pilot.set_output(PILOT_OFF)
    assert conn.pilot.read() == PilotReading(CPState.E, 0.0, 0.0)


async def test_plug_gives_b_then_c_one_reaction_time_after_a_valid_offer(
        conn: SimulatedConnector, clock: SimClock) -> None:
    conn.plug()
    assert conn.pilot.read() == PilotReading(CPState.B, 9.0, 9.0)
    await clock.advance(10.0)
    assert conn.pilot.read().state is CPState.B  # no PWM: B1, the EV waits
    conn.pilot.set_output(duty_for(16))
    assert conn.pilot.read() == PilotReading(CPState.B, 9.0, -12.0)
    await clock.advance(0.99)
    assert conn.pilot.read().state is CPState.B
    await clock.advance(0.01)
    assert conn.pilot.read() == PilotReading(CPState.C, 6.0, -12.0)


@pytest.mark.parametrize("duty", [5.0, 7.5, 2.0, 98.0])
async def test_no_basic_charging_offer_keeps_the_ev_in_b(
        conn: SimulatedConnector, clock: SimClock, duty: float) -> None:
    conn.plug()
    conn.pilot.set_output(PilotOutput.pwm(duty))
    await clock.advance(5.0)
    assert conn.pilot.read().state is CPState.B


async def test_draws_min_of_offer_and_own_max_only_while_contactor_closed(
        conn: SimulatedConnector, clock: SimClock) -> None:
    conn.plug()
    conn.pilot.set_output(duty_for(32))
    await clock.advance(1.0)
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]
    conn.contactor.close()
    assert conn.snapshot()["drawn_a"] == pytest.approx([16.0, 16.0, 16.0])
    conn.contactor.open()
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]


async def test_follows_a_lower_offer_after_its_reaction_time(
        conn: SimulatedConnector, clock: SimClock) -> None:
    await charging(conn, clock)
    conn.pilot.set_output(duty_for(10))
    await clock.advance(0.5)
    assert conn.snapshot()["drawn_a"][0] == pytest.approx(16.0)
    await clock.advance(0.5)
    assert conn.snapshot()["drawn_a"][0] == pytest.approx(10.0)
    conn.set_ev_max_current(8.0)
    assert conn.snapshot()["drawn_a"][0] == pytest.approx(8.0)


async def test_pwm_off_sends_the_ev_back_to_b(conn: SimulatedConnector, clock: SimClock) -> None:
    await charging(conn, clock)
    conn.pilot.set_output(PILOT_HIGH)
    assert conn.pilot.read().state is CPState.C  # C1 until the EV reacts
    await clock.advance(1.0)
    assert conn.pilot.read().state is CPState.B
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]


async def test_pause_and_resume(conn: SimulatedConnector, clock: SimClock) -> None:
    await charging(conn, clock)
    conn.pause()
    assert conn.pilot.read().state is CPState.B
    assert conn.snapshot()["drawn_a"][0] == 0.0
    await clock.advance(30.0)
    assert conn.pilot.read().state is CPState.B
    conn.resume()
    assert conn.pilot.read().state is CPState.C
    assert conn.snapshot()["drawn_a"][0] == pytest.approx(16.0)


async def test_forced_c_stays_c_without_pwm_and_d_asks_for_ventilation(
        conn: SimulatedConnector, clock: SimClock) -> None:
    conn.plug()
    conn.set_ev_state("C")
    await clock.advance(20.0)
    assert conn.pilot.read().state is CPState.C
    conn.set_ev_state("D")
    assert conn.pilot.read() == PilotReading(CPState.D, 3.0, 3.0)
    conn.resume()
    assert conn.pilot.read().state is CPState.B  # back to its own judgement: no offer yet


async def test_unplug_reads_a_and_stops_drawing(conn: SimulatedConnector, clock: SimClock) -> None:
    await charging(conn, clock)
    conn.unplug()
    assert conn.pilot.read().state is CPState.A
    assert conn.snapshot()["drawn_a"] == [0.0, 0.0, 0.0]
    await clock.advance(2.0)  # a stale reaction from before the unplug changes nothing
    conn.plug()
    await clock.advance(0.5)
    assert conn.pilot.read().state is CPState.B
    await clock.advance(0.5)
    assert conn.pilot.read().state is CPState.C


async def test_ev_uses_only_its_own_phases_and_the_live_ones(clock: SimClock) -> None:
    conn = SimulatedConnector(1, clock, with_phase_switch=True)
    conn.plug()
    conn.set_phases(2)
    conn.pilot.set_output(duty_for(16))
    await clock.advance(1.0)
    conn.contactor.close()
    assert conn.snapshot()["drawn_a"] == pytest.approx([16.0, 0.0, 0.0])  # phase switch open: L1 only
    assert conn.phase_switch is not None
    conn.phase_switch.close()
    assert conn.snapshot()["drawn_a"] == pytest.approx([16.0, 16.0, 0.0])


async def test_single_phase_connector(clock: SimClock) -> None:
    conn = SimulatedConnector(2, clock, phases=1)
    await charging(conn, clock, 20.0)
    assert conn.snapshot()["drawn_a"] == pytest.approx([20.0])
    reading = await conn.meter.read()
    assert reading.voltage_v == (230.0,)


def test_bad_arguments_are_refused(conn: SimulatedConnector, clock: SimClock) -> None:
    with pytest.raises(ValueError, match="no car"):
        conn.set_ev_state("C")
    conn.plug()
    with pytest.raises(ValueError, match="already"):
        conn.plug()
    with pytest.raises(ValueError, match="B, C, D"):
        conn.set_ev_state("E")
    with pytest.raises(ValueError):
        conn.set_phases(4)
    with pytest.raises(ValueError):
        conn.set_ev_max_current(-1)
    with pytest.raises(ValueError):
        SimulatedConnector(1, clock, ev_reaction_s=6.0)


def test_pilot_history_records_time_and_output(conn: SimulatedConnector, clock: SimClock) -> None:
    conn.pilot.set_output(duty_for(16))
    conn.pilot.set_output(PILOT_HIGH)
    assert conn.pilot.history == [(clock.monotonic(), duty_for(16)), (clock.monotonic(), PILOT_HIGH)]
    assert conn.pilot.output == PILOT_HIGH
