"""MCP3xxx SPI ADC channels through gpiozero, with one lock per chip so CP and PP threads share it safely."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from hal.contract import HalError

ADC_MODELS = ("MCP3002", "MCP3004", "MCP3008", "MCP3202", "MCP3204", "MCP3208")
_CHANNELS = {"MCP3002": 2, "MCP3004": 4, "MCP3008": 8, "MCP3202": 2, "MCP3204": 4, "MCP3208": 8}

_chip_locks: dict[tuple[int, int], threading.Lock] = {}
_registry_lock = threading.Lock()


def _chip_lock(port: int, device: int) -> threading.Lock:
    with _registry_lock:
        return _chip_locks.setdefault((port, device), threading.Lock())


class AnalogChannel(Protocol):
    """A voltage input, read in bursts."""

    def burst(self, samples: int) -> tuple[float, float]:
        """Read `samples` conversions back to back; return (min, max) in volts at the ADC pin."""

    def read_v(self) -> float: ...

    def open(self) -> None: ...

    def close(self) -> None: ...


class McpChannel:
    """One single-ended channel of an MCP3xxx on /dev/spidev<port>.<device>; opened by `open()`."""

    def __init__(
        self,
        model: str,
        channel: int,
        reference_v: float,
        port: int = 0,
        device: int = 0,
        pin_factory: Any = None,
    ) -> None:
        if model not in ADC_MODELS:
            raise ValueError(f"ADC model {model!r} not supported; allowed: {', '.join(ADC_MODELS)}")
        if not 0 <= channel < _CHANNELS[model]:
            raise ValueError(f"{model} has channels 0..{_CHANNELS[model] - 1}, not {channel}")
        self._model = model
        self._channel = channel
        self._port = port
        self._spi_device = device
        self._factory = pin_factory
        self._reference_v = reference_v
        self._lock = _chip_lock(port, device)
        self._device: Any = None

    def open(self) -> None:
        import gpiozero

        cls = getattr(gpiozero, self._model)
        try:
            self._device = cls(
                channel=self._channel,
                max_voltage=self._reference_v,
                port=self._port,
                device=self._spi_device,
                pin_factory=self._factory,
            )
        except Exception as exc:
            raise HalError(
                f"cannot open {self._model} on /dev/spidev{self._port}.{self._spi_device}: {exc} "
                "(enable SPI with dtparam=spi=on; the user needs the spi group)"
            ) from exc

    def burst(self, samples: int) -> tuple[float, float]:
        device = self._device
        with self._lock:
            values = [device.value for _ in range(samples)]
        return min(values) * self._reference_v, max(values) * self._reference_v

    def read_v(self) -> float:
        with self._lock:
            return float(self._device.value) * self._reference_v

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
