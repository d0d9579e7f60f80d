"""The CP/PP drivers on gpiozero's MockFactory: PWM pin, enable pin, an emulated MCP3008 on the mock SPI
bus fed with the voltages a car produces, and comparator inputs driven high/low."""

from __future__ import annotations

import threading
from typing import Any

import gpiozero
import pytest
from gpiozero.pins.mock import MockFactory

from firmware.settings import Settings
from hal.clock import SimClock
from hal.config import AdcProximity, GpioPilot
from hal.drivers_factory import _adc, build_pilot
from hal.factory import BuildContext
from hal.pilot.driver import AdcProximityPilot, HardwareControlPilot
from hal.types import PILOT_F, PILOT_HIGH, PILOT_OFF, CableAmpacity, CPState, PilotOutput, PilotReading
from tests.drivers.mock_adc import MockMcp3008
from tests.drivers.rig import HIGH_V, LOW_V, REF_V, adc_v


def ctx() -> BuildContext:
    return BuildContext(Settings(), SimClock())


def measure(**extra: Any) -> dict[str, Any]:
    return {
        "type": "adc",
        "adc_model": "MCP3008",
        "channel": 0,
        "reference_v": REF_V,
        "adc_v_at_minus_12": LOW_V,
        "adc_v_at_plus_12": HIGH_V,
        "burst_samples": 6,
        **extra,
    }


class Car:
    """Puts on the CP what the line shows for the EV's resistor and the EVSE's output."""

    def __init__(self, adc: MockMcp3008) -> None:
        self.adc = adc

    def show(self, positive: float, negative: float | None = None) -> None:
        volts = [adc_v(positive)] if negative is None else [adc_v(positive), adc_v(negative)]
        self.adc.set_voltages(0, volts)


@pytest.fixture
async def rig(pins: MockFactory) -> Any:
    adc = MockMcp3008(REF_V, pins)
    car = Car(adc)
    car.show(-12.0)  # stage off without an enable pin shows -12 V
    config = GpioPilot.model_validate({"driver": "gpio", "pwm": 18, "enable": 23, "measure": measure()})
    pilot = build_pilot(ctx(), config)
    car.show(0.0)
    await pilot.start(background=False)  # the tests run the measurement cycles themselves
    seen: list[PilotReading] = []
    pilot.subscribe(seen.append)
    yield pilot, car, seen, pins
    await pilot.stop()


def polls(pilot: HardwareControlPilot, n: int) -> None:
    for _ in range(n):
        pilot.poll_once()


async def test_output_levels_on_the_pins(rig: Any) -> None:
    pilot, _, _, pins = rig
    pwm, enable = pins.pin(18), pins.pin(23)
    assert pilot.output == PILOT_HIGH and enable.state == 1  # idles at +12 V after start
    assert pwm.frequency == 1000 and pwm.state == 1.0
    pilot.set_output(PilotOutput.pwm(16 / 0.6))
    assert pwm.state == pytest.approx(16 / 0.6 / 100) and enable.state == 1
    assert pilot.duty_resolution_percent == 0.0  # the mock factory is exact
    pilot.set_output(PILOT_HIGH)
    assert pwm.state == 1.0
    pilot.set_output(PILOT_F)
    assert pwm.state == 0.0 and enable.state == 1
    pilot.set_output(PILOT_OFF)
    assert enable.state == 0


async def test_software_pwm_rounds_the_current_down(pins: MockFactory) -> None:
    MockMcp3008(REF_V, pins).set_voltages(0, [adc_v(12.0)])
    config = GpioPilot.model_validate(
        {"driver": "gpio", "pwm": 18, "duty_resolution_percent": 1.0, "measure": measure()}
    )
    pilot = build_pilot(ctx(), config)
    await pilot.start(background=False)
    pilot.set_output(PilotOutput.pwm(16 / 0.6))  # 26.67 % -> 26 % (15.6 A), never 27 % (16.2 A)
    assert pins.pin(18).state == pytest.approx(0.26)
    assert pilot.output.duty_percent == pytest.approx(26.0)
    assert pilot.duty_resolution_percent == 1.0
    await pilot.stop()


async def test_every_state_is_reported_once_after_confirmation(rig: Any) -> None:
    pilot, car, seen, _ = rig
    pilot.set_output(PILOT_OFF)
    polls(pilot, 2)
    assert pilot.read().state == CPState.E  # output off: E whatever the line shows
    seen.clear()
    pilot.set_output(PILOT_HIGH)
    car.show(12.0)
    polls(pilot, 1)
    assert seen == []  # one burst is not enough
    polls(pilot, 1)
    assert [r.state for r in seen] == [CPState.A]
    pilot.set_output(PilotOutput.pwm(26.67))
    for positive, state in ((9.0, CPState.B), (6.0, CPState.C), (3.0, CPState.D), (9.0, CPState.B)):
        car.show(positive, -12.0)
        polls(pilot, 3)
        assert seen[-1].state == state
        assert seen[-1].positive_v == pytest.approx(positive, abs=0.1)
        assert seen[-1].negative_v == pytest.approx(-12.0, abs=0.1)
        assert not seen[-1].diode_fault
    assert [r.state for r in seen] == [CPState.A, CPState.B, CPState.C, CPState.D, CPState.B]
    pilot.set_output(PILOT_F)
    car.show(-12.0)
    polls(pilot, 2)
    assert seen[-1].state == CPState.F


async def test_no_car_under_pwm_is_not_a_diode_fault(rig: Any) -> None:
    pilot, car, _, _ = rig
    pilot.set_output(PilotOutput.pwm(50.0))
    car.show(12.0, -12.0)  # no car: the +/-12 V halves are symmetrical by design
    polls(pilot, 3)
    assert pilot.read().state == CPState.A and not pilot.read().diode_fault


async def test_short_and_out_of_range(rig: Any) -> None:
    pilot, car, seen, _ = rig
    pilot.set_output(PilotOutput.pwm(26.67))
    car.show(9.0, -12.0)
    polls(pilot, 2)
    car.show(0.2, -0.3)  # CP shorted to PE while we drive it
    polls(pilot, 2)
    assert seen[-1].state == CPState.E
    car.show(14.0, -12.0)  # above every band
    polls(pilot, 2)
    assert seen[-1].state == CPState.INVALID
    car.show(9.0, -6.0)  # negative half in no band, not a mirror either
    polls(pilot, 2)
    assert seen[-1].state == CPState.INVALID


async def test_diode_fault_latches_until_state_a(rig: Any) -> None:
    pilot, car, seen, _ = rig
    pilot.set_output(PilotOutput.pwm(26.67))
    car.show(9.0, -9.0)  # EV diode shorted: the negative half mirrors the positive one
    polls(pilot, 2)
    assert seen[-1].diode_fault and seen[-1].state == CPState.B
    pilot.set_output(PILOT_HIGH)  # the core stops the PWM; the fault stays latched
    car.show(9.0)
    polls(pilot, 3)
    assert pilot.read().diode_fault
    car.show(12.0)  # unplugged
    polls(pilot, 2)
    assert seen[-1].state == CPState.A and not seen[-1].diode_fault


async def test_glitches_are_filtered_but_a_bcb_pulse_is_not(rig: Any) -> None:
    pilot, car, seen, _ = rig
    pilot.set_output(PilotOutput.pwm(5.0))
    car.show(9.0, -12.0)
    polls(pilot, 2)
    seen.clear()
    car.show(6.0, -12.0)
    polls(pilot, 1)  # a single odd burst (one 5 ms cycle) ...
    car.show(9.0, -12.0)
    polls(pilot, 5)
    assert seen == []  # ... is suppressed
    car.show(6.0, -12.0)  # ISO 15118-3 B-C-B toggle: ~200 ms of C = 40 cycles at 5 ms
    polls(pilot, 40)
    car.show(9.0, -12.0)
    polls(pilot, 40)
    assert [r.state for r in seen] == [CPState.C, CPState.B]


async def test_subscribers_are_called_from_the_measurement_thread(pins: MockFactory) -> None:
    car = Car(MockMcp3008(REF_V, pins))
    car.show(0.0)
    pilot = build_pilot(ctx(), GpioPilot.model_validate({"driver": "gpio", "pwm": 18, "measure": measure()}))
    await pilot.start()
    got = threading.Event()
    threads: list[str] = []

    def on_reading(reading: PilotReading) -> None:
        if reading.state == CPState.A:
            threads.append(threading.current_thread().name)
            got.set()

    pilot.subscribe(on_reading)
    pilot.set_output(PILOT_HIGH)
    car.show(12.0)
    assert got.wait(5.0)
    await pilot.stop()
    assert threads[0] == "cp-monitor"


async def test_comparator_board(pins: MockFactory) -> None:
    config = GpioPilot.model_validate(
        {
            "driver": "gpio",
            "pwm": 18,
            "measure": {"type": "comparator", "a": 5, "b": 6, "c": 13, "d": 19, "negative": 26},
        }
    )
    pilot = build_pilot(ctx(), config)
    await pilot.start(background=False)
    seen: list[PilotReading] = []
    pilot.subscribe(seen.append)
    levels = {CPState.A: 5, CPState.B: 6, CPState.C: 13, CPState.D: 19}

    def show(state: CPState, negative_ok: bool = True) -> None:
        order = [CPState.A, CPState.B, CPState.C, CPState.D]
        for s, pin in levels.items():  # thermometer code: every threshold below the level is active
            (
                pins.pin(pin).drive_high
                if state in order and order.index(s) >= order.index(state)
                else pins.pin(pin).drive_low
            )()
        (pins.pin(26).drive_high if negative_ok else pins.pin(26).drive_low)()

    pilot.set_output(PILOT_HIGH)
    show(CPState.A, negative_ok=False)
    polls(pilot, 2)
    pilot.set_output(PilotOutput.pwm(26.67))
    for state in (CPState.B, CPState.C, CPState.D):
        show(state)
        polls(pilot, 2)
        assert seen[-1].state == state and not seen[-1].diode_fault
    show(CPState.C, negative_ok=False)  # no negative half while PWM runs: diode fault
    polls(pilot, 2)
    assert seen[-1].diode_fault
    assert [r.state for r in seen][:1] == [CPState.A]
    await pilot.stop()


@pytest.mark.parametrize(
    ("ohms", "rating"),
    [(1500, CableAmpacity.A13), (680, CableAmpacity.A20), (220, CableAmpacity.A32), (100, CableAmpacity.A63)],
)
async def test_proximity_ratings(pins: MockFactory, ohms: float, rating: CableAmpacity) -> None:
    adc = MockMcp3008(REF_V, pins)
    adc.set_voltages(1, [REF_V])  # no plug: pulled up to the supply
    config = AdcProximity.model_validate(
        {"driver": "adc", "adc_model": "MCP3008", "channel": 1, "reference_v": REF_V, "pull_up_ohm": 1000}
    )
    pp = _adc(ctx(), None, "proximity", config)
    assert isinstance(pp, AdcProximityPilot)
    await pp.start(background=False)
    assert pp.read().ampacity == CableAmpacity.NONE and not pp.read().fault
    seen: list[Any] = []
    pp.subscribe(seen.append)
    adc.set_voltages(1, [REF_V * ohms / (ohms + 1000)])
    pp.poll_once()
    pp.poll_once()
    assert seen[-1].ampacity == rating
    assert seen[-1].resistance_ohm == pytest.approx(ohms, rel=0.03)
    adc.set_voltages(1, [REF_V * 30 / 1030])  # 30 Ohm: broken cable coding
    pp.poll_once()
    pp.poll_once()
    assert seen[-1].fault and seen[-1].ampacity == CableAmpacity.NONE
    await pp.stop()


async def test_a_dead_adc_reads_as_an_invalid_pilot(
    rig: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pilot, car, seen, _ = rig
    car.show(12.0)
    polls(pilot, 2)

    def transfer_fails(self: Any) -> float:
        raise OSError("SPI transfer failed")

    with monkeypatch.context() as patch:  # the ADC stops answering
        patch.setattr(gpiozero.MCP3008, "value", property(transfer_fails))
        polls(pilot, 5)
        assert seen[-1].state == CPState.INVALID  # fails safe: the core opens the contactor
    assert sum("measurement failed" in r.message for r in caplog.records) == 1  # logged once
    car.adc.set_voltages(0, [0.0])  # MISO stuck low: code 0 = far below -12 V
    polls(pilot, 2)
    assert pilot.read().state == CPState.INVALID
    car.show(12.0)
    polls(pilot, 2)
    assert seen[-1].state == CPState.A


async def test_a_failing_pilot_subscriber_does_not_keep_the_change_from_the_others(
        rig: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The safety path (hal.pubsub rule): every subscriber hears the change in the measuring thread, also
    when one before it raises; the failure is logged."""
    pilot, car, _, _ = rig
    heard: list[tuple[CPState, str]] = []

    def broken(reading: PilotReading) -> None:
        raise RuntimeError("boom")

    pilot.subscribe(broken)
    pilot.subscribe(lambda r: heard.append((r.state, threading.current_thread().name)))
    pilot.set_output(PILOT_HIGH)
    car.show(12.0)
    worker = threading.Thread(target=polls, args=(pilot, 2), name="cp-monitor-test")
    worker.start()
    worker.join()
    assert heard == [(CPState.A, "cp-monitor-test")]
    assert any("control pilot" in r.getMessage() and r.exc_info for r in caplog.records)
