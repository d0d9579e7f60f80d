"""Local load management: fair share, 6 A floor with rotation, grid-meter headroom per phase."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.core.events import MeterSampled
from firmware.settings import Settings
from firmware.smart.load_management import LoadManager, allocate
from hal.clock import SimClock
from hal.types import MeterReading
from tests.smart.fakes import FakeGridMeter, RecordingStation
from tests.smart.helpers import at

T0 = at("2026-01-05T08:00")


@given(st.floats(0, 200), st.lists(st.sampled_from([6.0, 10.0, 16.0, 32.0]), min_size=1, max_size=6))
def test_allocation_properties(budget: float, caps_list: list[float]) -> None:
    caps = {i + 1: c for i, c in enumerate(caps_list)}
    order = list(caps)
    shares = allocate(budget, caps, order)
    assert sum(shares.values()) <= budget + 1e-9
    served = [c for c in order if shares[c] > 0]
    assert all(shares[c] >= 6.0 for c in served)
    assert all(shares[c] <= caps[c] for c in order)
    assert served == order[:len(served)]  # the head of the turn order is served first
    assert len(served) == min(len(order), int(budget // 6 + 1e-9))
    unused = budget - sum(shares.values())
    if unused >= 0.2 * len(order):  # nobody is left below their cap while current is unused
        assert all(shares[c] >= caps[c] - 0.1 for c in served)


def test_water_filling_gives_the_surplus_to_the_others() -> None:
    assert allocate(40, {1: 10, 2: 32, 3: 32}, [1, 2, 3]) == {1: 10, 2: 15, 3: 15}
    assert allocate(13, {1: 32, 2: 32, 3: 32}, [3, 1, 2]) == {3: 6.5, 1: 6.5, 2: 0.0}


def make(station: RecordingStation, clock: SimClock, meter: FakeGridMeter | None = None,
         **lm: Any) -> LoadManager:
    settings = Settings(connectors=[{"id": 1}, {"id": 2}, {"id": 3}],
                        station={"hal": {"grid_meter": {"driver": "fake"}}},
                        load_management={"enabled": True, "site_limit_a": 20, "rotation_interval_s": 600,
                                         "poll_interval_s": 2, **lm})
    return LoadManager(station, clock, settings, meter)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
async def lm(clock: SimClock) -> AsyncIterator[tuple[LoadManager, RecordingStation]]:
    station = RecordingStation([1, 2, 3])
    manager = make(station, clock)
    await manager.start()
    yield manager, station
    await manager.stop()


async def test_fair_share_pause_and_rotation(clock: SimClock) -> None:
    station = RecordingStation([1, 2, 3])
    manager = make(station, clock, site_limit_a=16)
    await manager.start()
    station.start_session(1, T0)
    assert station.limit("load_management", 1) == 16
    station.start_session(2, T0)
    assert (station.limit("load_management", 1), station.limit("load_management", 2)) == (8, 8)
    station.start_session(3, T0)  # 16 A cannot give three connectors 6 A: the newest one waits
    assert [station.limit("load_management", c) for c in (1, 2, 3)] == [8, 8, 0]
    await clock.advance(600)
    assert [station.limit("load_management", c) for c in (1, 2, 3)] == [8, 0, 8]
    await clock.advance(600)
    assert [station.limit("load_management", c) for c in (1, 2, 3)] == [0, 8, 8]
    station.stop_session(1, T0)
    assert [station.limit("load_management", c) for c in (1, 2, 3)] == [None, 8, 8]
    assert manager.status()["turn_order"] == [2, 3]
    await manager.stop()


async def test_three_share_twenty_amps(lm: tuple[LoadManager, RecordingStation]) -> None:
    _, station = lm
    for c in (1, 2, 3):
        station.start_session(c, T0)
    limits = [station.limit("load_management", c) or 0.0 for c in (1, 2, 3)]
    assert sum(limits) <= 20 and min(limits) >= 6.6


async def test_grid_meter_uses_only_the_headroom_of_the_worst_phase(clock: SimClock) -> None:
    station = RecordingStation([1, 2, 3])
    meter = FakeGridMeter((12.0, 5.0, 5.0))
    manager = make(station, clock, meter, use_grid_meter=True, site_limit_a=25, safety_margin_a=1)
    await manager.start()
    station.start_session(1, T0)
    await clock.advance(2)
    assert station.limit("load_management", 1) == 12  # 25 - 1 - 12 on L1
    # The charger now draws 12 A on every phase and the house load on L1 stays: same headroom.
    station.publish(MeterSampled(1, MeterReading(0.0, current_a=(12.0, 12.0, 12.0)), clock.now(), "s1"))
    meter.current_a = (24.0, 17.0, 17.0)
    await clock.advance(2)
    assert station.limit("load_management", 1) == 12
    meter.current_a = (30.0, 17.0, 17.0)  # the oven goes on: L1 over the limit, lower at once
    await clock.advance(2)
    assert station.limit("load_management", 1) == 6
    meter.current_a = (32.0, 17.0, 17.0)  # no room even for 6 A: pause
    await clock.advance(2)
    assert station.limit("load_management", 1) == 0
    meter.current_a = None  # meter dead: after the timeout, the minimum current within the site limit
    await clock.advance(12)
    assert station.limit("load_management", 1) == 6
    await manager.stop()


async def test_small_increases_are_ignored(clock: SimClock) -> None:
    station = RecordingStation([1, 2, 3])
    meter = FakeGridMeter((10.0, 0.0, 0.0))
    manager = make(station, clock, meter, use_grid_meter=True, site_limit_a=25, safety_margin_a=0)
    await manager.start()
    station.start_session(1, T0)
    await clock.advance(2)
    assert station.limit("load_management", 1) == 15
    meter.current_a = (9.8, 0.0, 0.0)
    await clock.advance(2)
    assert station.limit("load_management", 1) == 15  # +0.2 A: not worth a PWM change
    meter.current_a = (10.1, 0.0, 0.0)
    await clock.advance(2)
    assert station.limit("load_management", 1) == 14.9  # lowering is always applied
    await manager.stop()
