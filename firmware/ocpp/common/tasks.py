"""Background work an OCPP runtime owns: tasks that are cancelled together when it stops, whose failures
are logged (a lost connection is no failure), and the wait that either a clock sleep or an event ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from hal.clock import Clock

Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[None]"]


class OwnedTasks:
    """The tasks one runtime spawned and has not seen finish."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[None]:
        """Run a coroutine as a task the runtime owns (cancelled on stop; failures logged)."""
        task = asyncio.create_task(self._guarded(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, coro: Awaitable[Any], name: str) -> None:
        try:
            await coro
        except (asyncio.CancelledError, ConnectionError, ConnectionClosed):
            pass
        except Exception:
            self._log.exception("OCPP task %s failed", name)

    def take(self) -> list[asyncio.Task[Any]]:
        """Every task still running, forgotten here (the caller cancels and awaits them)."""
        tasks = list(self._tasks)
        self._tasks.clear()
        return tasks

    def cancel_all(self) -> None:
        """Cancel every task still running (a block's stop: nothing of it runs on)."""
        for task in self.take():
            task.cancel()


async def pause(clock: Clock, seconds: float, wake: asyncio.Event) -> None:
    """Sleep `seconds` on `clock`, or less if `wake` is set meanwhile."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()


async def wait_until(clock: Clock, condition: Callable[[], bool], max_s: float, step_s: float = 0.5) -> bool:
    """Check `condition` every `step_s` on `clock` until it holds (True) or `max_s` passed (False)."""
    waited = 0.0
    while not condition():
        if waited >= max_s:
            return False
        await clock.sleep(step_s)
        waited += step_s
    return True
