"""A misbehaving Modbus line does not flood the journal: pymodbus's per-frame error dumps stay out of the
log unless a technician asks for them with `[logging.components] pymodbus = "DEBUG"`; the controller's own
one-line "meter offline" warning (firmware/core/connector.py) is what the journal gets."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from firmware.logging_setup import configure_logging
from firmware.settings import load_settings
from hal.clock import RealClock
from hal.contract import MeterError
from hal.meters.bus import BusRegistry
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.registermap import builtin_maps

pytestmark = pytest.mark.usefixtures("logging_restored")


@pytest.fixture
async def garbage_server() -> AsyncIterator[int]:
    """A TCP peer that answers every request with a frame of the wrong protocol id."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(256):
            writer.write(bytes.fromhex("0001 0007 0006 0104 0300 0000"))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def read_through_garbage(port: int, **logging_section: object) -> list[str]:
    stream = io.StringIO()
    configure_logging(load_settings(None, logging=logging_section), stream=stream, environ={})
    bus = BusRegistry(RealClock()).tcp("127.0.0.1", port, timeout_s=0.2, retries=1)
    meter = ModbusMeter(bus, 1, builtin_maps()["em340"])
    bus.acquire()
    try:
        for _ in range(3):
            with pytest.raises(MeterError):
                await meter.read()
    finally:
        bus.release()
    return [line for line in stream.getvalue().splitlines() if "logger=pymodbus" in line]


async def test_pymodbus_frame_errors_stay_out_of_the_journal_by_default(garbage_server: int) -> None:
    assert await read_through_garbage(garbage_server) == []


async def test_a_technician_can_turn_the_pymodbus_detail_back_on(garbage_server: int) -> None:
    lines = await read_through_garbage(garbage_server, level="DEBUG", components={"pymodbus": "DEBUG"})
    assert any("level=ERROR" in line for line in lines)
