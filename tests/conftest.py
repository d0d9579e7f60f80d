"""Shared fixtures: a whole controller on the fake HAL and simulated time."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.app import Application
from firmware.core.connector import ConnectorController
from firmware.core.events import CoreEvent, StatusChanged
from firmware.core.published import status_label
from firmware.settings import load_settings
from hal.clock import SimClock
from hal.fake import SimulatedConnector
from tests.drivers.meter_emulator import free_port, start_tcp_server
from tests.drivers.signing_emulators import _Emulator


class Harness:
    """A running Application on the fake HAL with a SimClock, plus every core event it published."""

    def __init__(self, app: Application, clock: SimClock) -> None:
        self.app = app
        self.clock = clock
        self.station = app.station
        self.events: list[CoreEvent] = []
        app.station.subscribe(self.events.append)

    @property
    def sim(self) -> SimulatedConnector:
        return self.sim_connector(1)

    def sim_connector(self, connector_id: int) -> SimulatedConnector:
        assert self.app.simulation is not None
        return self.app.simulation.connector(connector_id)

    def connector(self, connector_id: int = 1) -> ConnectorController:
        return self.station.connector(connector_id)

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    async def settle(self) -> None:
        await self.clock.settle()

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def statuses(self, connector_id: int = 1) -> list[str]:
        return [status_label(e.state) for e in self.of_type(StatusChanged) if e.connector_id == connector_id]


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """For tests that call configure_logging: they start with every logger at NOTSET (whatever an earlier
    test configured), and afterwards the root handlers and every logger's level are as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    for name in levels:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture
def short_dir() -> Any:
    """A short directory (unix socket paths are limited to ~108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="cp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


HarnessFactory = Callable[..., Any]


@pytest.fixture
async def make_harness(short_dir: Path) -> AsyncIterator[HarnessFactory]:
    started: list[Harness] = []

    async def make(*, station: dict[str, Any] | None = None,
                   connectors: list[dict[str, Any]] | None = None,
                   state_dir: Path | None = None, clock: SimClock | None = None,
                   start: bool = True, **sections: Any) -> Harness:
        station_cfg = {"state_dir": str(state_dir or short_dir), **(station or {})}
        settings = load_settings(None, station=station_cfg,
                                 connectors=connectors or [{"id": 1}], **sections)
        sim_clock = clock or SimClock()
        app = Application(settings, clock=sim_clock)
        harness = Harness(app, sim_clock)
        if start:
            await app.start()
            await sim_clock.settle()
            started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.app.stop()


@pytest.fixture
async def signing_modbus_meter() -> AsyncIterator[Callable[[_Emulator], Awaitable[int]]]:
    """Starts a pymodbus TCP server emulating a signing meter (EM580 or Iskra); returns its port."""
    servers: list[Any] = []

    async def start(emulator: _Emulator) -> int:
        port = free_port()
        servers.append(await start_tcp_server([emulator], port))  # type: ignore[list-item]
        return port

    yield start
    for server in servers:
        await server.shutdown()
