"""Durability with the whole controller (Application on the fake HAL): a day-long outage with sessions,
and the process killed at random points again and again, against a real websocket CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from pathlib import Path
from typing import Any

from firmware.core.connector import METER_SETTLE_S
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v16.adapter import OcppAdapter
from hal.clock import SimClock
from tests.conftest import Harness as AppHarness
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms, utc
from tests.ocpp.test_durability import assert_no_duplicates, transactions


def section(port: int, **configuration: Any) -> dict[str, Any]:
    return {
        "url": f"ws://127.0.0.1:{port}/ocpp",
        "charge_point_id": "CP-DUR",
        "reconnect_min_s": 1.0,
        "reconnect_max_s": 5.0,
        "ping_interval_s": 0,
        "response_timeout_s": 2.0,
        "configuration": configuration,
    }


async def online(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter._online.is_set(), h.clock, 0.1)


async def drained(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter.outbox.depth() == 0, h.clock, 0.1, within=30)


async def kill(h: AppHarness) -> None:
    """The process dies: the OCPP adapter's tasks and connection end without any shutdown or flush. The rest
    of the abandoned Application stays inert (its simulated clock is never advanced again)."""
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    if adapter._unsubscribe is not None:
        adapter._unsubscribe()
        adapter._unsubscribe = None
    tasks = adapter.cancel_tasks()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


async def test_day_long_outage_with_sessions(
    make_harness: HarnessFactory, csms: TestCsms, short_dir: Path
) -> None:
    port = await csms.start()
    h = await make_harness(
        state_dir=short_dir,
        station={"free_charging": True},
        ocpp=section(port, MeterValueSampleInterval=900, ClockAlignedDataInterval=3600),
    )
    await online(h)
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await h.app.control.dispatch({"command": "ocpp", "args": {"action": "disconnect"}})
    sessions = 0
    for hour in range(24):
        if hour % 4 == 0:
            h.sim.plug()
            sessions += 1
        await h.advance(3600)
        if hour % 4 == 2:
            h.sim.unplug()
    await h.advance(5)
    assert csms.calls("StartTransaction") == [] and adapter.outbox.durable_depth() > 50
    await h.app.control.dispatch({"command": "ocpp", "args": {"action": "connect"}})
    await drained(h)
    txs = transactions(csms)
    assert len(txs) == sessions == 6
    for tx in txs.values():
        assert tx["stop"] is not None and tx["stop"]["reason"] == "EVDisconnected"
        stamps = [utc(m["meterValue"][0]["timestamp"]) for m in tx["meters"]]
        assert stamps == sorted(stamps) and len(stamps) >= 8
        # 3 hours at 22 kW, metered by the simulated meter
        assert 63000 < tx["stop"]["meterStop"] - tx["start"]["meterStart"] < 69000
    assert_no_duplicates(csms)


async def test_killed_again_and_again_loses_and_duplicates_nothing(
    make_harness: HarnessFactory, csms: TestCsms, short_dir: Path
) -> None:
    port = await csms.start()
    rng = random.Random(7)
    clock_time = SimClock().now()
    interrupted = 0
    current: list[SimClock] = []
    csms.time_source = lambda: rfc3339(current[-1].now())  # the CSMS's clock agrees with the charger's
    for _ in range(15):
        clock = SimClock(clock_time)
        current.append(clock)
        h = await make_harness(
            state_dir=short_dir,
            clock=clock,
            station={"free_charging": True},
            ocpp=section(port, MeterValueSampleInterval=30),
        )
        if rng.random() < 0.7:
            await online(h)
        if h.sim.snapshot()["plugged"]:  # the simulated car stayed plugged in across the kill: replug
            h.sim.unplug()
            await h.advance(1)
        h.sim.plug()
        await eventually(lambda h=h: h.station.session_of(1) is not None, h.clock, 0.2)  # type: ignore[misc]
        await h.advance(rng.choice([5, 40, 95]))
        if rng.random() < 0.4:
            h.sim.unplug()
            wait = rng.choice([0.5, 3])
            await h.advance(wait)
            # The stop is reported once the final meter reading settled (1 s after the contactor opened);
            # a process that dies before that leaves an interrupted session, reported as PowerLoss.
            interrupted += wait < METER_SETTLE_S
        else:
            interrupted += 1
        await asyncio.sleep(rng.uniform(0, 0.003))
        await kill(h)
        clock_time = h.clock.now()
    current.append(SimClock(clock_time))
    final = await make_harness(state_dir=short_dir, clock=current[-1], ocpp=section(port))
    await online(final)
    await drained(final)
    txs = transactions(csms)
    assert len(txs) == 15
    reasons = Counter(tx["stop"]["reason"] for tx in txs.values() if tx["stop"] is not None)
    assert reasons == Counter({"PowerLoss": interrupted, "EVDisconnected": 15 - interrupted})
    for tx in txs.values():
        assert tx["stop"]["meterStop"] >= tx["start"]["meterStart"]
    assert_no_duplicates(csms)
    # Every start is a critical security event: each of the 16 reached the CSMS, under one message id each.
    startups = [f for f in csms.frames if f[0] == 2 and f[2] == "SecurityEventNotification"
                and f[3]["type"] == "StartupOfTheDevice"]  # fmt: skip
    assert len({f[1] for f in startups}) == 16
