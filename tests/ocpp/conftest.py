"""Fixtures: a real websocket CSMS on loopback, a fake station, SimClock, and the adapter under test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.control.server import ControlServer
from firmware.ocpp.settings import OcppSettings
from firmware.ocpp.v16.adapter import OcppAdapter
from firmware.settings import Settings, StationSettings
from hal.clock import SimClock
from tests.ocpp.csms import TestCsms
from tests.ocpp.fakes import FakeStation


async def eventually(
    predicate: Callable[[], Any], clock: SimClock | None = None, step: float = 0.0, within: float = 5.0
) -> None:
    """Wait (real time, optionally advancing simulated time by `step` per round) until predicate holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        if clock is not None and step:
            await clock.advance(step)
        await asyncio.sleep(0.002)


class Harness:
    def __init__(self, tmp: Path, csms: TestCsms, port: int, **ocpp: Any) -> None:
        self.tmp = tmp
        self.csms = csms
        self.port = port
        self.ocpp_overrides = ocpp
        self.clock = SimClock()
        self.station = FakeStation(self.clock)
        self.restarts: list[bool] = []
        self.adapter: OcppAdapter | None = None

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "url": f"ws://127.0.0.1:{self.port}/ocpp",
            "charge_point_id": "CP1",
            "reconnect_min_s": 1.0,
            "reconnect_max_s": 10.0,
            "ping_interval_s": 0,
            "response_timeout_s": 2.0,
        }
        values.update(self.ocpp_overrides)
        return Settings(
            station=StationSettings(
                state_dir=self.tmp,
                vendor="ChargePi",
                model="AC22",
                serial_number="SN-42",
                firmware_version="1.2.3",
            ),
            ocpp=OcppSettings(**values),
        )

    def build(self, station: FakeStation | None = None, **kwargs: Any) -> OcppAdapter:
        if station is not None:
            self.station = station
        control = ControlServer(self.tmp / "ctl.sock")
        self.control = control
        self.adapter = OcppAdapter(
            self.settings(),
            self.station,
            self.clock,
            self.tmp,
            control,
            restart=self.restarts.append,
            **kwargs,
        )
        return self.adapter

    async def start(self, wait_online: bool = True) -> OcppAdapter:
        adapter = self.build() if self.adapter is None else self.adapter
        await adapter.start()
        if wait_online:
            await eventually(lambda: adapter._online.is_set(), self.clock, 0.1)
        return adapter

    async def kill(self) -> None:
        """Abandon the adapter as a power cut would: cancel its tasks, no orderly shutdown, no flush."""
        adapter = self.adapter
        assert adapter is not None
        if adapter._unsubscribe is not None:
            adapter._unsubscribe()
        tasks = adapter.cancel_tasks()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        adapter._db.close()
        self.adapter = None

    async def settle(self) -> None:
        """Let the outbox drain to the CSMS."""
        adapter = self.adapter
        assert adapter is not None
        await eventually(lambda: adapter.outbox.depth() == 0, self.clock, 0.05)


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms()
    yield server
    await server.stop()


@pytest.fixture
async def harness(tmp_path: Path, csms: TestCsms) -> AsyncIterator[Harness]:
    port = await csms.start()
    h = Harness(tmp_path, csms, port)
    yield h
    if h.adapter is not None:
        await h.adapter.stop()
