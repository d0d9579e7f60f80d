"""The controller's heartbeat comes from a thread of its own, yet a stuck event loop still loses the
contactor: the thread withholds the heartbeat once the loop has not run for supervisor_loop_watchdog_s.
The controller (Application, fake HAL) runs in this process with its real supervisor process. Not timed:
the loop is blocked for several times the limit, and each step waits for what it needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.app import Application
from firmware.core.published import status_label
from firmware.settings import load_settings


async def eventually(condition: Callable[[], Any], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_stuck_event_loop_withholds_the_heartbeat_and_the_supervisor_opens(short_dir: Path) -> None:
    settings = load_settings(None, station={"state_dir": str(short_dir), "supervisor_watchdog_s": 0.1,
                                            "supervisor_loop_watchdog_s": 0.3}, connectors=[{"id": 1}])
    app = Application(settings)
    await app.start()
    try:
        assert app.supervisor is not None and app.simulation is not None
        supervisor = app.supervisor
        connector = app.station.connector(1)
        contactor = app.simulation.connectors[0].contactor
        app.simulation.connectors[0].plug()
        await eventually(lambda: status_label(connector.state) == "Charging" and contactor.commanded_closed,
                         "charging")
        time.sleep(1.5)  # noqa: ASYNC251 - the point: the loop is stuck, five times the loop limit
        await eventually(lambda: supervisor.watchdog_trips == 1, "the supervisor's trip reported")
        await eventually(lambda: status_label(connector.state) == "Charging" and contactor.commanded_closed,
                         "charging again once the loop runs")
    finally:
        await app.stop()
