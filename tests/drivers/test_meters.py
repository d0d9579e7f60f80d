"""Every packaged meter map end to end against a pymodbus server emulating that meter, over TCP on
127.0.0.1 and RTU through a virtual serial pair; plus bus failures, CRC errors and a vanishing meter."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest

from hal.clock import RealClock
from hal.contract import HalError, MeterError
from hal.meters.bus import BusRegistry, BusUnavailable, SerialLine
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.registermap import MeterMap, builtin_maps, decode, plan_reads
from hal.meters.scan import distinct_maps, scan
from hal.types import MeterReading
from tests.drivers.meter_emulator import (
    SAMPLE_VALUES,
    EmulatedMeter,
    PtyBridge,
    flip_last_byte,
    free_port,
    start_rtu_server,
    start_tcp_server,
)

MAPS = {m.name: m for m in distinct_maps()}


def expected(meter_map: MeterMap, quantity: str) -> float:
    """The sample value as the meter's register resolution can carry it."""
    reg = meter_map.resolved(quantity)
    value = SAMPLE_VALUES[quantity]
    if reg.data_type.startswith("float"):
        return value
    return round(value / reg.scale) * reg.scale


def check_reading(meter_map: MeterMap, reading: MeterReading) -> None:
    assert reading.energy_import_wh == pytest.approx(expected(meter_map, "energy_import"), rel=1e-6)
    for prefix, got in (
        ("voltage", reading.voltage_v),
        ("current", reading.current_a),
        ("power", reading.power_w),
    ):
        names = [f"{prefix}_l{n}" for n in (1, 2, 3) if f"{prefix}_l{n}" in meter_map.registers]
        assert got == pytest.approx([expected(meter_map, n) for n in names], rel=1e-4)
    if "frequency" in meter_map.registers:
        assert reading.frequency_hz == pytest.approx(expected(meter_map, "frequency"), rel=1e-4)
    if "power_total" in meter_map.registers:
        assert reading.power_total_w == pytest.approx(expected(meter_map, "power_total"), rel=1e-4)


@pytest.fixture
def registry() -> BusRegistry:
    return BusRegistry(RealClock())


@pytest.fixture
def bridge() -> Iterator[PtyBridge]:
    b = PtyBridge()
    yield b
    b.close()


def test_every_required_model_has_a_map() -> None:
    names = builtin_maps()
    for model in ("sdm630", "sdm120", "sdm72d-m", "b23", "b24", "em340", "phoenix-eem-350"):
        assert model in names


def test_decode_known_words() -> None:
    # docs/reference/hardware.md §8: 230.0 V = 0x4366 0x0000 as big-endian float32; EM340 2301 as INT32
    # LSW first.
    assert decode([0x4366, 0x0000], "float32", "big") == 230.0
    assert decode([0x08FD, 0x0000], "int32", "little") == 2301
    assert decode([0xFFFF, 0xFFFF], "uint32", "big") is None
    assert decode([0x7FFF, 0xFFFF], "int32", "big") is None
    assert decode([0x7FC0, 0x0000], "float32", "big") is None
    assert decode([0xFFFF, 0xFFFE], "int32", "big") == -2


def test_reads_respect_the_meter_request_limit() -> None:
    for meter_map in MAPS.values():
        for block in plan_reads(meter_map):
            assert block.count <= meter_map.max_registers_per_read


@pytest.mark.parametrize("name", sorted(MAPS))
async def test_map_over_tcp(name: str, registry: BusRegistry) -> None:
    meter_map = MAPS[name]
    port = free_port()
    server = await start_tcp_server([EmulatedMeter(meter_map, device_id=3)], port)
    try:
        meter = ModbusMeter(registry.tcp("127.0.0.1", port, timeout_s=1.0, retries=1), 3, meter_map)
        await meter.start()
        check_reading(meter_map, await meter.read())
        await meter.stop()
    finally:
        await server.shutdown()


@pytest.mark.parametrize("name", sorted(MAPS))
async def test_map_over_rtu(name: str, registry: BusRegistry, bridge: PtyBridge) -> None:
    meter_map = MAPS[name]
    server = await start_rtu_server([EmulatedMeter(meter_map, device_id=7)], bridge.server_port)
    try:
        bus = registry.serial(SerialLine(bridge.client_port), timeout_s=1.0, retries=1)
        meter = ModbusMeter(bus, 7, meter_map)
        await meter.start()
        check_reading(meter_map, await meter.read())
        await meter.stop()
    finally:
        await server.shutdown()


async def test_meter_and_grid_meter_share_one_rs485_line(registry: BusRegistry, bridge: PtyBridge) -> None:
    sdm630, em340 = MAPS["Eastron SDM630"], MAPS["Carlo Gavazzi EM340 / Phoenix EEM-350"]
    grid = EmulatedMeter(em340, device_id=2, values={**SAMPLE_VALUES, "energy_import": 9_999_900.0})
    server = await start_rtu_server([EmulatedMeter(sdm630, device_id=1), grid], bridge.server_port)
    try:
        bus = registry.serial(SerialLine(bridge.client_port), timeout_s=1.0, retries=1)
        assert registry.serial(SerialLine(bridge.client_port), timeout_s=1.0, retries=1) is bus
        ev_meter, grid_meter = ModbusMeter(bus, 1, sdm630), ModbusMeter(bus, 2, em340)
        await ev_meter.start()
        await grid_meter.start()
        for _ in range(3):  # concurrent reads must not interleave on the wire
            a, b = await asyncio.gather(ev_meter.read(), grid_meter.read())
            assert a.energy_import_wh == pytest.approx(1234567.0)
            assert b.energy_import_wh == pytest.approx(9_999_900.0)
    finally:
        await server.shutdown()


def test_conflicting_line_settings_are_refused(registry: BusRegistry) -> None:
    registry.serial(SerialLine("/dev/ttyUSB0", baudrate=9600), timeout_s=1, retries=1)
    with pytest.raises(HalError, match="different settings"):
        registry.serial(SerialLine("/dev/ttyUSB0", baudrate=2400), timeout_s=1, retries=1)


async def test_wrong_crc_is_retried_then_reported(registry: BusRegistry, bridge: PtyBridge) -> None:
    meter_map = MAPS["Eastron SDM120"]
    server = await start_rtu_server([EmulatedMeter(meter_map)], bridge.server_port)
    try:
        bus = registry.serial(SerialLine(bridge.client_port), timeout_s=0.3, retries=1)
        meter = ModbusMeter(bus, 1, meter_map)
        bridge.corrupt = flip_last_byte
        with pytest.raises(MeterError, match="did not answer"):
            await meter.read()
        bridge.corrupt = None
        check_reading(meter_map, await meter.read())
    finally:
        await server.shutdown()


async def test_absent_device_times_out(registry: BusRegistry, bridge: PtyBridge) -> None:
    server = await start_rtu_server([EmulatedMeter(MAPS["Eastron SDM630"], device_id=1)], bridge.server_port)
    try:
        bus = registry.serial(SerialLine(bridge.client_port), timeout_s=0.2, retries=0)
        with pytest.raises(MeterError, match="device 9 did not answer"):
            await ModbusMeter(bus, 9, MAPS["Eastron SDM630"]).read()
    finally:
        await server.shutdown()


async def test_meter_that_disappears_and_comes_back(registry: BusRegistry) -> None:
    meter_map = MAPS["ABB B23/B24"]
    emulated = EmulatedMeter(meter_map)
    port = free_port()
    server = await start_tcp_server([emulated], port)
    meter = ModbusMeter(registry.tcp("127.0.0.1", port, timeout_s=0.3, retries=0), 1, meter_map)
    await meter.start()
    first = await meter.read()
    await server.shutdown()
    with pytest.raises(MeterError):
        await meter.read()
    emulated.values["energy_import"] += 500.0
    server = await start_tcp_server([emulated], port)
    try:
        again = await meter.read()
        assert again.energy_import_wh == pytest.approx(first.energy_import_wh + 500.0)
    finally:
        await server.shutdown()


async def test_not_available_values(registry: BusRegistry) -> None:
    meter_map = MAPS["ABB B23/B24"]
    emulated = EmulatedMeter(meter_map)
    emulated.not_available = {"current_l2", "frequency"}
    port = free_port()
    server = await start_tcp_server([emulated], port)
    try:
        meter = ModbusMeter(registry.tcp("127.0.0.1", port, timeout_s=1, retries=0), 1, meter_map)
        reading = await meter.read()
        assert reading.current_a == ()  # a partial per-phase tuple would misplace phases
        assert reading.frequency_hz is None
        assert len(reading.voltage_v) == 3
        emulated.not_available = {"energy_import"}
        with pytest.raises(MeterError, match="not available"):
            await meter.read()
    finally:
        await server.shutdown()


async def test_exception_response_is_a_meter_error(registry: BusRegistry) -> None:
    port = free_port()
    server = await start_tcp_server([EmulatedMeter(MAPS["Eastron SDM120"])], port)
    try:  # an SDM120 asked with the ABB map answers "illegal address"
        meter = ModbusMeter(registry.tcp("127.0.0.1", port, timeout_s=1, retries=0), 1, MAPS["ABB B23/B24"])
        with pytest.raises(MeterError, match="refused"):
            await meter.read()
    finally:
        await server.shutdown()


async def test_scan_finds_addresses_and_models(registry: BusRegistry) -> None:
    port = free_port()
    meters = [EmulatedMeter(MAPS["Eastron SDM630"], 2), EmulatedMeter(MAPS["ABB B23/B24"], 4)]
    server = await start_tcp_server(meters, port)
    try:
        bus = registry.tcp("127.0.0.1", port, timeout_s=0.2, retries=0)
        hits = await scan(bus, range(1, 6))
        found = {h.device_id: h.models for h in hits}
        assert set(found) == {2, 4}
        assert "Eastron SDM630" in found[2] and "ABB B23/B24" not in found[2]
        assert found[4] == ["ABB B23/B24"]
    finally:
        await server.shutdown()


def test_nan_is_not_a_reading() -> None:
    assert decode([0x7F80, 0x0000], "float32", "big") is None  # +inf
    assert not math.isnan(decode([0x4366, 0x0000], "float32", "big") or 0.0)


async def test_unreachable_bus_is_named(registry: BusRegistry) -> None:
    port = free_port()  # nothing listens there
    meter = ModbusMeter(registry.tcp("127.0.0.1", port, timeout_s=0.3, retries=0), 1, MAPS["Eastron SDM120"])
    with pytest.raises(BusUnavailable, match="cannot open the bus"):
        await meter.read()
    with pytest.raises(BusUnavailable):  # a scan stops at once instead of probing 247 silent addresses
        await scan(registry.tcp("127.0.0.1", port, timeout_s=0.3, retries=0), range(1, 248))
    missing = registry.serial(SerialLine("/dev/ttyNOPE0"), timeout_s=0.3, retries=0)
    with pytest.raises(BusUnavailable, match="ttyNOPE0"):
        await ModbusMeter(missing, 1, MAPS["Eastron SDM120"]).read()
