"""The neutral sampling policy both OCPP versions use (firmware/ocpp/common/sampling.py), on simulated
time: periodic intervals per key, clock-aligned boundaries from midnight, readings with a replaced energy
register."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from firmware.ocpp.common.sampling import (
    ConnectorReadings,
    sample_clock_aligned,
    sample_periodically,
    seconds_to_boundary,
)
from hal.clock import SimClock
from hal.types import MeterReading

START = datetime(2026, 12, 4, 10, 0, 7, tzinfo=UTC)


async def test_each_interval_fires_on_its_own_period_and_zero_never() -> None:
    clock = SimClock(START)
    intervals = {"a": 10, "b": 15, "off": 0}
    fired: list[tuple[str, float]] = []
    def interval_of(key: str) -> Callable[[], int]:
        return lambda: intervals[key]

    task = asyncio.create_task(sample_periodically(
        clock, {k: interval_of(k) for k in intervals}, lambda name: fired.append((name, clock.monotonic()))))
    await clock.advance(31)
    intervals["a"] = 0  # counts from the next sample on: the one due at 40 still fires
    await clock.advance(30)
    task.cancel()
    t0 = fired[0][1] - 10
    assert [(n, round(t - t0)) for n, t in fired] == [
        ("a", 10), ("b", 15), ("a", 20), ("a", 30), ("b", 30), ("a", 40), ("b", 45), ("b", 60)]


async def test_a_sampler_with_every_interval_at_zero_looks_again_later() -> None:
    clock = SimClock(START)
    interval = [0]
    fired: list[float] = []
    task = asyncio.create_task(sample_periodically(clock, {"a": lambda: interval[0]},
                                                   lambda _: fired.append(clock.monotonic())))
    await clock.advance(1)
    begin = clock.monotonic()
    interval[0] = 5
    await clock.advance(59 + 5 + 0.5)  # noticed at the next idle poll (60 s), then every 5 s
    task.cancel()
    assert [round(t - begin) for t in fired] == [64]


async def test_clock_aligned_samples_fall_on_boundaries_from_midnight() -> None:
    clock = SimClock(START)
    changed = asyncio.Event()
    interval = [900]
    times: list[datetime] = []
    task = asyncio.create_task(sample_clock_aligned(clock, lambda: interval[0], changed, times.append))
    await clock.advance(1900)
    task.cancel()
    assert [t.strftime("%H:%M:%S") for t in times] == ["10:15:00", "10:30:00"]


@given(st.integers(0, 86399), st.sampled_from([1, 60, 900, 3600, 7]))
def test_the_next_boundary_is_a_multiple_of_the_interval_after_midnight(second: int, interval: int) -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC).replace(hour=second // 3600, minute=second % 3600 // 60,
                                                    second=second % 60)
    wait = seconds_to_boundary(now, interval)
    assert 0 < wait <= interval
    assert (second + wait) % interval == 0


def test_a_reading_with_a_replaced_energy_register_keeps_the_rest() -> None:
    readings = ConnectorReadings()
    assert readings.with_energy(1, 42.0) == MeterReading(energy_import_wh=42.0)
    readings.sampled(1, MeterReading(10.0, voltage_v=(230.0, 231.0, 229.0), current_a=(6.0, 6.0, 6.0)), START)
    readings.offered(1, 16.0)
    kept = readings.with_energy(1, 99.0)
    assert kept.energy_import_wh == 99.0 and kept.voltage_v == (230.0, 231.0, 229.0)
    assert readings.offered_a(1) == 16.0 and readings.offered_a(2) is None and readings.latest(2) is None
