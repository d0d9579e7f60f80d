"""Injectable time: the real clock for production and a simulated one that tests advance by hand.

All timing in the HAL and the firmware (timers, debounce windows, intervals) goes through a `Clock`, never
through `asyncio.sleep` or `time.*` directly, so tests of a 24-hour outage run in milliseconds. It lives in
`hal/` because the drivers need it and `hal/` never imports `firmware/`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""

    def set_now(self, when: datetime) -> None:
        """Correct the wall clock (e.g. from the CSMS); monotonic time is unaffected."""

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class RealClock:
    """Production clock: asyncio for sleeping, the system clock plus a correction for wall time."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set_now(self, when: datetime) -> None:
        self._offset = when.astimezone(UTC) - datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _SimTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self.callback = None


class SimClock:
    """Simulated time. Nothing moves until a test calls `advance`; sleepers wake in deadline order."""

    def __init__(self, start: datetime | None = None) -> None:
        self._mono = 1000.0
        self._wall0 = (start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) - timedelta(seconds=self._mono)
        self._queue: list[tuple[float, int, _SimTimer]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._mono)

    def set_now(self, when: datetime) -> None:
        self._wall0 = when.astimezone(UTC) - timedelta(seconds=self._mono)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _SimTimer(callback)
        heapq.heappush(self._queue, (self._mono + max(0.0, delay), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    @property
    def next_deadline(self) -> float | None:
        while self._queue and self._queue[0][2].callback is None:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    async def settle(self, rounds: int = 30) -> None:
        """Let every task that is ready run until the loop has nothing left to do right now."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due on the way in order, letting tasks run between."""
        target = self._mono + seconds
        await self.settle()
        while True:
            deadline = self.next_deadline
            if deadline is None or deadline > target:
                break
            _, _, timer = heapq.heappop(self._queue)
            self._mono = max(self._mono, deadline)
            callback = timer.callback
            timer.callback = None
            if callback is not None:
                callback()
            await self.settle()
        self._mono = target
        await self.settle()
