"""Test support: a real pymodbus server emulating a meter from its register map (values encoded with
pymodbus's own converter, independent of the driver's decoder), over TCP or RTU through a pty pair."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from collections.abc import Callable
from typing import Any, Literal

from pymodbus import FramerType
from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.meters.registermap import MeterMap

_DT = ModbusClientMixin.DATATYPE
_TYPES = {
    "int16": _DT.INT16,
    "uint16": _DT.UINT16,
    "int32": _DT.INT32,
    "uint32": _DT.UINT32,
    "int64": _DT.INT64,
    "uint64": _DT.UINT64,
    "float32": _DT.FLOAT32,
    "float64": _DT.FLOAT64,
}
NOT_AVAILABLE = {
    "uint16": [0xFFFF],
    "uint32": [0xFFFF] * 2,
    "uint64": [0xFFFF] * 4,
    "int16": [0x7FFF],
    "int32": [0x7FFF, 0xFFFF],
    "int64": [0x7FFF] + [0xFFFF] * 3,
    "float32": [0x7FC0, 0x0000],
    "float64": [0x7FF8, 0, 0, 0],
}

SAMPLE_VALUES = {
    "voltage_l1": 230.1,
    "voltage_l2": 231.2,
    "voltage_l3": 229.8,
    "current_l1": 15.92,
    "current_l2": 16.01,
    "current_l3": 15.87,
    "power_l1": 3663.2,
    "power_l2": 3701.5,
    "power_l3": 3647.1,
    "power_total": 11011.8,
    "frequency": 50.01,
    "energy_import": 1234567.0,
}


class EmulatedMeter:
    """Serves `values` (physical units, energy in Wh) at the map's registers; `not_available` quantities
    answer the "not available" pattern."""

    def __init__(
        self, meter_map: MeterMap, device_id: int = 1, values: dict[str, float] | None = None
    ) -> None:
        self.map = meter_map
        self.device_id = device_id
        self.values = dict(SAMPLE_VALUES if values is None else values)
        self.not_available: set[str] = set()
        self.requests = 0

    def registers(self) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = {}
        for quantity in self.map.registers:
            reg = self.map.resolved(quantity)
            if quantity in self.not_available:
                words = NOT_AVAILABLE[reg.data_type]
                if reg.word_order == "little":
                    words = list(reversed(words))
            else:
                raw = self.values.get(quantity, 0.0) / reg.scale
                if not reg.data_type.startswith("float"):
                    raw = round(raw)
                order: Literal["big", "little"] = "little" if reg.word_order == "little" else "big"
                words = ModbusClientMixin.convert_to_registers(raw, _TYPES[reg.data_type], word_order=order)
            for i, word in enumerate(words):
                out[(reg.function_code, reg.address + i)] = word
        return out

    def sim_device(self) -> SimDevice:
        spans: dict[int, tuple[int, int]] = {}
        for fc, addr in self.registers():
            low, high = spans.get(fc, (addr, addr))
            spans[fc] = (min(low, addr), max(high, addr))
        blocks: dict[int, list[SimData]] = {3: [], 4: []}
        for fc, (low, high) in spans.items():
            blocks[fc].append(
                SimData(address=low, values=[0] * (high - low + 1), datatype=DataType.REGISTERS)
            )

        def unused() -> list[SimData]:
            return [SimData(address=0xFFFF, datatype=DataType.INVALID)]

        def no_bits() -> list[SimData]:
            return [SimData(address=0xFFFF, values=False, datatype=DataType.BITS)]

        return SimDevice(
            id=self.device_id,
            simdata=(no_bits(), no_bits(), blocks[3] or unused(), blocks[4] or unused()),
            action=self._action,
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: Any,
    ) -> None:
        self.requests += 1
        for (fc, addr), word in self.registers().items():
            if fc == function_code and 0 <= addr - start_address < len(registers):
                registers[addr - start_address] = word


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _SilentForUnknownIds:
    """pymodbus 3.16's SimCore raises KeyError for an unknown device id, which the server turns into
    exception 4; a real RS-485 line stays silent. This wrapper raises NoSuchIdException instead, which the
    server (with ignore_missing_devices) answers with silence."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def _check(self, device_id: int) -> None:
        if device_id not in self._core.devices:
            raise NoSuchIdException(f"no device {device_id}")

    async def async_getValues(self, device_id: int, *args: Any) -> Any:
        self._check(device_id)
        return await self._core.async_getValues(device_id, *args)

    async def async_setValues(self, device_id: int, *args: Any) -> Any:
        self._check(device_id)
        return await self._core.async_setValues(device_id, *args)

    def device_ids(self) -> list[int]:
        return list(self._core.device_ids())


async def start_tcp_server(meters: list[EmulatedMeter], port: int) -> Any:
    server = ModbusTcpServer(
        [m.sim_device() for m in meters], address=("127.0.0.1", port), ignore_missing_devices=True
    )
    server.context = _SilentForUnknownIds(server.context)  # type: ignore[assignment]
    await server.serve_forever(background=True)
    return server


async def start_rtu_server(meters: list[EmulatedMeter], port: str) -> Any:
    server = ModbusSerialServer(
        [m.sim_device() for m in meters],
        framer=FramerType.RTU,
        port=port,
        baudrate=9600,
        ignore_missing_devices=True,
    )
    server.context = _SilentForUnknownIds(server.context)  # type: ignore[assignment]
    await server.serve_forever(background=True)
    return server


class PtyBridge:
    """A virtual null-modem cable (what `socat pty pty` does): two pseudo terminals whose masters are
    joined by a thread. `corrupt` may rewrite bytes travelling from the server end to the client end."""

    def __init__(self) -> None:
        self._m1, s1 = os.openpty()
        self._m2, s2 = os.openpty()
        for fd in (s1, s2):
            tty.setraw(fd)
        self.server_port = os.ttyname(s1)
        self.client_port = os.ttyname(s2)
        self._slaves = (s1, s2)
        self.corrupt: Callable[[bytes], bytes] | None = None
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pty-bridge")
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._m1, self._m2, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if fd == self._m1:
                    if self.corrupt is not None:
                        data = self.corrupt(data)
                    os.write(self._m2, data)
                else:
                    os.write(self._m1, data)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._m1, self._m2, *self._slaves, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def flip_last_byte(data: bytes) -> bytes:
    """Breaks the CRC of an RTU frame (the CRC is the last two bytes)."""
    return data[:-1] + bytes([data[-1] ^ 0xFF]) if data else data
