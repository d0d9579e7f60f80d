"""CP measurement: samplers that turn one burst into a classified reading, a debouncer, and the monitor
thread that pushes every accepted change to subscribers at once (the core's safety interlock runs in it).

Debouncing (docs/reference/hardware.md §1.1, §2.2): a new state is accepted when `confirm` consecutive
bursts agree (chargebyte's "twice in a row"). With bursts every few ms this adds well under 50 ms and a
~200 ms B-C-B pulse (ISO 15118-3) spans dozens of bursts, so it is never filtered away.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hal.contract import HalError, Unsubscribe
from hal.gpio.pins import InputSpec, input_active, open_input
from hal.pilot.adc import AnalogChannel
from hal.pilot.signal import classify_peak, combine, cp_short, diode_fault
from hal.types import CPState, PilotOutput, PilotOutputMode, PilotReading

log = logging.getLogger(__name__)

NOMINAL_V = {
    CPState.A: 12.0,
    CPState.B: 9.0,
    CPState.C: 6.0,
    CPState.D: 3.0,
    CPState.E: 0.0,
    CPState.F: -12.0,
    CPState.INVALID: 0.0,
}


class PilotSampler(Protocol):
    def measure(self, output: PilotOutput) -> PilotReading:
        """Take one burst and classify it (no debouncing)."""

    def open(self) -> None: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class CpScaling:
    """Linear map from the ADC pin voltage to the CP voltage, given by two calibration points."""

    adc_v_at_minus_12: float
    adc_v_at_plus_12: float

    def cp_volts(self, adc_v: float) -> float:
        span = self.adc_v_at_plus_12 - self.adc_v_at_minus_12
        return -12.0 + 24.0 * (adc_v - self.adc_v_at_minus_12) / span


class AdcPilotSampler:
    """Peak detection over a burst of ADC conversions: max = positive level, min = negative level."""

    def __init__(self, channel: AnalogChannel, scaling: CpScaling, burst_samples: int) -> None:
        self._channel = channel
        self._scaling = scaling
        self._samples = burst_samples
        self._prev_pos = CPState.A
        self._prev_neg = CPState.A

    def open(self) -> None:
        self._channel.open()

    def measure(self, output: PilotOutput) -> PilotReading:
        low, high = self._channel.burst(self._samples)
        positive_v = round(self._scaling.cp_volts(high), 3)
        negative_v = round(self._scaling.cp_volts(low), 3)
        pos = classify_peak(positive_v, self._prev_pos)
        neg = classify_peak(negative_v, self._prev_neg)
        self._prev_pos, self._prev_neg = pos, neg
        if output.mode == PilotOutputMode.OFF:
            return PilotReading(CPState.E, positive_v, negative_v)
        if pos in (CPState.B, CPState.C, CPState.D) and diode_fault(output, positive_v, negative_v):
            return PilotReading(pos, positive_v, negative_v, diode_fault=True)
        if cp_short(output, positive_v, negative_v):
            return PilotReading(CPState.E, positive_v, negative_v)
        return PilotReading(combine(pos, neg), positive_v, negative_v)

    def close(self) -> None:
        self._channel.close()


class ComparatorPilotSampler:
    """Boards with comparators on the (peak-held) CP: one input per threshold, active while the positive
    level is above it (~10.5 / 7.5 / 4.5 / 1.5 V for A / B / C / D), and optionally one input active while
    the negative level is below about -10.5 V (the diode check). The volts reported are nominal levels."""

    def __init__(
        self, level_pins: dict[CPState, InputSpec], negative_pin: InputSpec | None, pin_factory: Any = None
    ) -> None:
        order = (CPState.A, CPState.B, CPState.C, CPState.D)
        self._specs = [(state, level_pins[state]) for state in order if state in level_pins]
        self._negative_spec = negative_pin
        self._factory = pin_factory
        self._levels: list[tuple[CPState, InputSpec, Any]] = []
        self._negative: Any = None

    def open(self) -> None:
        self._levels = [(state, spec, open_input(spec, self._factory)) for state, spec in self._specs]
        if self._negative_spec is not None:
            self._negative = open_input(self._negative_spec, self._factory)

    def measure(self, output: PilotOutput) -> PilotReading:
        state = next((s for s, spec, dev in self._levels if input_active(dev, spec)), CPState.E)
        negative_ok: bool | None = None
        if self._negative is not None and self._negative_spec is not None:
            negative_ok = input_active(self._negative, self._negative_spec)
        if output.mode == PilotOutputMode.OFF:
            return PilotReading(CPState.E, 0.0, 0.0)
        if state == CPState.E and (negative_ok or output.mode == PilotOutputMode.NEGATIVE):
            return PilotReading(CPState.F, -12.0, -12.0)
        pwm_on = output.mode == PilotOutputMode.PWM and 0.0 < output.duty_percent < 100.0
        fault = pwm_on and negative_ok is False and state in (CPState.B, CPState.C, CPState.D)
        if not pwm_on:
            negative_v = NOMINAL_V[state]  # steady level: both "peaks" are the same
        elif fault:
            negative_v = -NOMINAL_V[state]  # the negative half mirrors the positive one
        else:
            negative_v = -12.0
        return PilotReading(state, NOMINAL_V[state], negative_v, diode_fault=fault)

    def close(self) -> None:
        for _, _, dev in self._levels:
            dev.close()
        self._levels = []
        if self._negative is not None:
            self._negative.close()
            self._negative = None


class Debouncer:
    """Accepts a new (state, diode) pair once `confirm` consecutive readings agree."""

    def __init__(self, confirm: int) -> None:
        self.confirm = max(1, confirm)
        self.current: PilotReading | None = None
        self._candidate: tuple[CPState, bool] | None = None
        self._count = 0

    def feed(self, reading: PilotReading) -> bool:
        key = (reading.state, reading.diode_fault)
        if self.current is not None and key == (self.current.state, self.current.diode_fault):
            self.current = reading
            self._candidate, self._count = None, 0
            return False
        if key == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = key, 1
        if self._count >= self.confirm:
            self.current = reading
            self._candidate, self._count = None, 0
            return True
        return False


class PilotMonitor:
    """Owns the measurement thread. `poll_once` is the whole loop body (tests call it directly)."""

    def __init__(
        self,
        sampler: PilotSampler,
        output: Callable[[], PilotOutput],
        confirm: int,
        interval_s: float,
        name: str = "cp-monitor",
    ) -> None:
        self._sampler = sampler
        self._output = output
        self._debouncer = Debouncer(confirm)
        self._interval_s = interval_s
        self._name = name
        self._subscribers: list[Callable[[PilotReading], None]] = []
        self._diode_latched = False
        self._published: PilotReading | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.burst_time_s = 0.0

    def subscribe(self, callback: Callable[[PilotReading], None]) -> Unsubscribe:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def read(self) -> PilotReading:
        if self._published is None:
            raise HalError("control pilot read before start()")
        return self._published

    def prime(self) -> PilotReading:
        """Open the sampler and measure until a state is accepted (start-up), without notifying anyone."""
        self._sampler.open()
        for _ in range(self._debouncer.confirm * 4):
            self._step()
            if self._published is not None:
                return self._published
        raise HalError("control pilot measurement does not settle; check the ADC wiring and scaling")

    def poll_once(self) -> None:
        changed = self._step()
        if changed is not None:
            for callback in list(self._subscribers):
                try:
                    callback(changed)
                except Exception:
                    log.exception("control pilot subscriber failed")

    def _step(self) -> PilotReading | None:
        started = time.perf_counter()
        output = self._output()
        try:
            raw = self._sampler.measure(output)
            if self._failing:
                self._failing = False
                log.warning("control pilot measurement works again")
        except Exception as exc:  # a dead ADC must fail safe: report an invalid pilot
            if not self._failing:  # once, not every few ms
                log.error("control pilot measurement failed: %s", exc)
            self._failing = True
            raw = PilotReading(CPState.INVALID, 0.0, 0.0)
        self.burst_time_s = time.perf_counter() - started
        if self._output() != output:  # the output changed during the burst: it mixes two waveforms
            return None
        if not self._debouncer.feed(raw) and self._published is not None:
            current = self._debouncer.current
            if current is not None:  # same state: refresh the voltages only
                self._published = dataclasses.replace(current, diode_fault=self._published.diode_fault)
            return None
        accepted = self._debouncer.current
        if accepted is None:
            return None
        if accepted.diode_fault:
            self._diode_latched = True
        elif accepted.state == CPState.A:
            # chargebyte: latched until state A is seen (docs/reference/hardware.md §1.3)
            self._diode_latched = False
        reading = dataclasses.replace(accepted, diode_fault=self._diode_latched)
        previous = self._published
        self._published = reading
        if previous is not None and (previous.state, previous.diode_fault) == (
            reading.state,
            reading.diode_fault,
        ):
            return None
        return reading

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._sampler.close()
