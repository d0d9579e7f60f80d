"""The simulated clock fires timers and sleepers in deadline order, only when advanced."""

import asyncio
from datetime import UTC, datetime

from hal.clock import SimClock


async def test_sleepers_wake_in_order_only_when_advanced():
    clock = SimClock()
    woke: list[str] = []

    async def sleeper(name, delay):
        await clock.sleep(delay)
        woke.append(f"{name}@{clock.monotonic() - 1000:.0f}")

    tasks = [asyncio.create_task(sleeper("b", 5)), asyncio.create_task(sleeper("a", 2))]
    await clock.settle()
    assert woke == []
    await clock.advance(3)
    assert woke == ["a@2"]
    await clock.advance(10)
    assert woke == ["a@2", "b@5"]
    await asyncio.gather(*tasks)


async def test_cancelled_timer_does_not_fire_and_wall_clock_follows():
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC))
    fired = []
    timer = clock.call_later(1, lambda: fired.append(1))
    timer.cancel()
    await clock.advance(2)
    assert fired == []
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    clock.set_now(datetime(2030, 1, 1, tzinfo=UTC))
    await clock.advance(1)
    assert clock.now() == datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
