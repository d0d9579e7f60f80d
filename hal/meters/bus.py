"""One Modbus client per RS-485 line or TCP endpoint, shared by every device on it (meter + grid meter),
with a lock so requests never interleave (pymodbus clients are not safe for concurrent use,
docs/reference/hardware.md §7).
The client connects on first use and again after any I/O failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.clock import Clock
from hal.contract import HalError, MeterError

log = logging.getLogger(__name__)


class NoAnswer(MeterError):
    """The device did not answer at all (timeout, CRC errors, connection refused)."""


class BusUnavailable(MeterError):
    """The serial port or TCP endpoint itself cannot be opened (missing adapter, port in use, refused)."""


class Refused(MeterError):
    """The device answered with a Modbus exception (e.g. illegal address: not this model)."""


@dataclass(frozen=True)
class SerialLine:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


class ModbusBus:
    def __init__(self, name: str, make_client: Callable[[], Any], clock: Clock) -> None:
        self.name = name
        self._make_client = make_client
        self._clock = clock
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._users = 0
        self._last_request = -1e9

    def acquire(self) -> None:
        self._users += 1

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self._drop()

    async def read(
        self, device_id: int, function_code: int, address: int, count: int, gap_s: float = 0.0
    ) -> list[int]:
        """Read `count` registers; raises MeterError with a technician-readable reason."""
        from pymodbus import ModbusException

        async with self._lock:
            wait = self._last_request + gap_s - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            try:
                client = await self._connected()
            except (TimeoutError, ModbusException, OSError) as exc:
                self._drop()
                raise BusUnavailable(f"{self.name}: cannot open the bus: {exc}") from exc
            try:
                method = client.read_input_registers if function_code == 4 else client.read_holding_registers
                response = await method(address, count=count, device_id=device_id)
            except (TimeoutError, ModbusException, OSError) as exc:
                self._drop()
                raise NoAnswer(
                    f"{self.name}: device {device_id} did not answer FC{function_code:02d} "
                    f"@{address:#06x}+{count}: {exc}"
                ) from exc
            finally:
                self._last_request = self._clock.monotonic()
            if response.isError():
                raise Refused(
                    f"{self.name}: device {device_id} refused FC{function_code:02d} @{address:#06x}+{count} "
                    f"(Modbus exception {getattr(response, 'exception_code', '?')})"
                )
            registers = list(response.registers)
            if len(registers) < count:
                raise MeterError(
                    f"{self.name}: device {device_id} sent {len(registers)} of {count} registers"
                )
            return registers[:count]

    async def _connected(self) -> Any:
        from pymodbus import ModbusException

        if self._client is None:
            self._client = self._make_client()
        if not self._client.connected and not await self._client.connect():
            raise ModbusException(f"cannot connect to {self.name}")
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing a broken transport must not hide the original error
                log.debug("closing %s failed", self.name, exc_info=True)
            self._client = None


class BusRegistry:
    """Hands out one ModbusBus per serial port / TCP endpoint; refuses conflicting line settings."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buses: dict[str, ModbusBus] = {}
        self._lines: dict[str, SerialLine] = {}

    def serial(self, line: SerialLine, timeout_s: float, retries: int) -> ModbusBus:
        known = self._lines.get(line.port)
        if known is not None and known != line:
            raise HalError(
                f"serial port {line.port} is configured twice with different settings ({known} vs {line}); "
                "devices on one RS-485 line must share baud rate, parity and stop bits"
            )
        self._lines[line.port] = line

        def make() -> Any:
            from pymodbus import FramerType
            from pymodbus.client import AsyncModbusSerialClient

            return AsyncModbusSerialClient(
                line.port,
                framer=FramerType.RTU,
                baudrate=line.baudrate,
                bytesize=line.bytesize,
                parity=line.parity,
                stopbits=line.stopbits,
                timeout=timeout_s,
                retries=retries,
                reconnect_delay=0,
            )

        return self._get(f"serial:{line.port}", make)

    def tcp(self, host: str, port: int, timeout_s: float, retries: int) -> ModbusBus:
        def make() -> Any:
            from pymodbus.client import AsyncModbusTcpClient

            return AsyncModbusTcpClient(
                host, port=port, timeout=timeout_s, retries=retries, reconnect_delay=0
            )

        return self._get(f"tcp:{host}:{port}", make)

    def _get(self, key: str, make: Callable[[], Any]) -> ModbusBus:
        if key not in self._buses:
            self._buses[key] = ModbusBus(key, make, self._clock)
        return self._buses[key]
