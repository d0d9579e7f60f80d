"""Waiting on work done in threads (real file transfers) from tests that otherwise run on simulated time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (real time: transfers are real I/O in threads) until `condition()` holds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
