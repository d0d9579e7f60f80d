"""The meter-value sampling policy every OCPP version shares, in neutral terms: the latest reading and
offered current of each connector, periodic sampling on one or more configured intervals (a
transaction's sampler), and clock-aligned sampling on boundaries counted from midnight UTC.

Which measurands a sample holds and where it goes (a live message, a transaction's data) is the caller's
choice by its own key names (1.6: MeterValueSampleInterval, StopTxnSampledData, ...; 2.0.1:
SampledDataCtrlr.TxUpdatedInterval, TxEndedMeasurands, ...); the rendering is each version's own
(`firmware/ocpp/v16/meter_values.py`, `firmware/ocpp/v201/meter_values.py`) on top of
`firmware/ocpp/common/measurands.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime

from firmware.ocpp.common.tasks import pause
from hal.clock import Clock
from hal.types import MeterReading

IDLE_POLL_S = 60.0  # how often a sampler whose intervals are all 0 looks whether one was set
ALIGNED_STEP_S = 0.001  # after a clock-aligned sample: step past the boundary


class ConnectorReadings:
    """The latest meter reading (with its time) and offered current of each connector, as the core
    reported them."""

    def __init__(self) -> None:
        self._latest: dict[int, tuple[MeterReading, datetime]] = {}
        self._offered: dict[int, float] = {}

    def sampled(self, connector_id: int, reading: MeterReading, when: datetime) -> None:
        self._latest[connector_id] = (reading, when)

    def offered(self, connector_id: int, offered_a: float) -> None:
        self._offered[connector_id] = offered_a

    def latest(self, connector_id: int) -> MeterReading | None:
        latest = self._latest.get(connector_id)
        return None if latest is None else latest[0]

    def offered_a(self, connector_id: int) -> float | None:
        return self._offered.get(connector_id)

    def with_energy(self, connector_id: int, energy_wh: float) -> MeterReading:
        """The latest reading of a connector with its energy register replaced by `energy_wh` (only the
        register when there is no reading yet)."""
        latest = self.latest(connector_id)
        if latest is None:
            return MeterReading(energy_import_wh=energy_wh)
        return MeterReading(energy_wh, latest.voltage_v, latest.current_a, latest.power_w,
                            latest.frequency_hz, latest.power_total_w)


async def sample_periodically(clock: Clock, intervals: Mapping[str, Callable[[], int]],
                              due: Callable[[str], None], idle_poll_s: float = IDLE_POLL_S) -> None:
    """Call `due(name)` every `intervals[name]()` seconds, for each name (0 or less: never; a changed
    interval counts from the next sample on). Runs until cancelled."""
    deadlines: dict[str, float | None] = dict.fromkeys(intervals)
    while True:
        now = clock.monotonic()
        for name, interval_of in intervals.items():
            interval = interval_of()
            at = deadlines[name]
            deadlines[name] = None if interval <= 0 else (at if at is not None else now + interval)
        pending = [at for at in deadlines.values() if at is not None]
        await clock.sleep(max(0.0, min(pending) - now) if pending else idle_poll_s)
        now = clock.monotonic()
        for name, at in list(deadlines.items()):
            if at is not None and now >= at:
                deadlines[name] = None
                due(name)


def seconds_to_boundary(now: datetime, interval_s: int) -> float:
    """Seconds from `now` to the next multiple of `interval_s` counted from the midnight of `now`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - midnight).total_seconds()
    return interval_s - (elapsed % interval_s)


async def sample_clock_aligned(clock: Clock, interval: Callable[[], int], changed: asyncio.Event,
                               due: Callable[[datetime], None]) -> None:
    """Call `due(time)` on every boundary of `interval()` seconds, aligned to midnight of the clock's
    time zone (UTC); 0 or less: never. `changed` (set when the interval is changed) starts over."""
    while True:
        changed.clear()
        interval_s = interval()
        if interval_s <= 0:
            await changed.wait()
            continue
        await pause(clock, seconds_to_boundary(clock.now(), interval_s), changed)
        if changed.is_set():
            continue
        due(clock.now())
        await clock.sleep(ALIGNED_STEP_S)
