"""The ControlPilot and ProximityPilot parts built from a generator, a sampler and a monitor thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hal.contract import HalError, Unsubscribe
from hal.pilot.adc import AnalogChannel
from hal.pilot.measure import PilotMonitor
from hal.pilot.output import PilotGenerator
from hal.pilot.signal import divider_resistance, pp_ampacity
from hal.types import PILOT_HIGH, PilotOutput, PilotReading, ProximityReading

log = logging.getLogger(__name__)

MAX_DETECTION_S = 0.050  # never add more than 50 ms of CP filtering (docs/reference/hardware.md §1.1)


class HardwareControlPilot:
    """CP generator + measurement thread. Subscribers are called from the measurement thread."""

    def __init__(
        self, generator: PilotGenerator, monitor: PilotMonitor, confirm: int, interval_s: float
    ) -> None:
        self._generator = generator
        self._monitor = monitor
        self._confirm = confirm
        self._interval_s = interval_s
        self._started = False

    async def start(self, background: bool = True) -> None:
        """Open the generator (steady +12 V), take a first reading, and run the measurement thread unless
        `background` is False (then the owner calls `poll_once`, as `chargepi selftest` does)."""
        await self._generator.open()
        # Idle at steady +12 V (x1: present, not offering), the level the core expects after start.
        self._generator.set_output(PILOT_HIGH)
        reading = self._monitor.prime()
        worst = self._confirm * (self._interval_s + self._monitor.burst_time_s)
        log.info(
            "CP monitor: burst %.1f ms, worst-case detection %.1f ms, first reading %s",
            self._monitor.burst_time_s * 1e3,
            worst * 1e3,
            reading,
        )
        if worst > MAX_DETECTION_S:
            log.warning(
                "CP detection may take %.0f ms (> 50 ms): lower burst_samples or interval_ms", worst * 1e3
            )
        if background:
            self._monitor.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._monitor.stop()
            self._started = False
        self._generator.close()

    def set_output(self, output: PilotOutput) -> None:
        self._generator.set_output(output)

    @property
    def output(self) -> PilotOutput:
        return self._generator.output

    @property
    def duty_resolution_percent(self) -> float:
        return self._generator.duty_resolution_percent

    def read(self) -> PilotReading:
        return self._monitor.read()

    def subscribe(self, callback: Callable[[PilotReading], None]) -> Unsubscribe:
        return self._monitor.subscribe(callback)

    def poll_once(self) -> None:
        """One measurement cycle, as the thread runs it (for `chargepi selftest` and tests)."""
        self._monitor.poll_once()


class AdcProximityPilot:
    """PP through a pull-up divider into an ADC channel, polled every `interval_s` (chargebyte: 500 ms)."""

    def __init__(
        self, channel: AnalogChannel, supply_v: float, pull_up_ohm: float, interval_s: float = 0.5
    ) -> None:
        self._channel = channel
        self._supply_v = supply_v
        self._pull_up_ohm = pull_up_ohm
        self._interval_s = interval_s
        self._subscribers: list[Callable[[ProximityReading], None]] = []
        self._reading: ProximityReading | None = None
        self._candidate: ProximityReading | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def measure(self) -> ProximityReading:
        ohms = divider_resistance(self._channel.read_v(), self._supply_v, self._pull_up_ohm)
        ampacity, fault = pp_ampacity(ohms)
        return ProximityReading(ampacity, None if ohms is None else round(ohms, 1), fault)

    def poll_once(self) -> None:
        """Accept a new rating when two polls in a row agree; push it to subscribers."""
        try:
            raw = self.measure()
        except Exception as exc:
            log.error("proximity measurement failed: %s", exc)
            return
        key = (raw.ampacity, raw.fault)
        if self._reading is not None and key == (self._reading.ampacity, self._reading.fault):
            self._reading, self._candidate = raw, None
            return
        if self._candidate is None or key != (self._candidate.ampacity, self._candidate.fault):
            self._candidate = raw
            return
        self._reading, self._candidate = raw, None
        for callback in list(self._subscribers):
            try:
                callback(raw)
            except Exception:
                log.exception("proximity subscriber failed")

    def read(self) -> ProximityReading:
        if self._reading is None:
            raise HalError("proximity pilot read before start()")
        return self._reading

    def subscribe(self, callback: Callable[[ProximityReading], None]) -> Unsubscribe:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def start(self, background: bool = True) -> None:
        self._channel.open()
        self._reading = self.measure()
        if not background:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pp-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.poll_once()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._channel.close()
