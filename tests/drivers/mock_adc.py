"""Test support: an MCP3008 on gpiozero's mock SPI bus (the SPI slave side, from the MCP3004/3008 data
sheet framing: start bit, single/diff bit, 3 channel bits, then a null bit and 10 result bits MSB first).
Each channel serves a cycle of voltages, one per conversion, so a burst sees a PWM waveform's peaks."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gpiozero.pins.mock import MockPin, MockPWMPin, MockSPIClockPin, MockSPIDevice, MockSPISelectPin


class _ClockPin(MockSPIClockPin, MockPWMPin):  # type: ignore[misc]
    """PWM-capable so one MockFactory(pin_class=MockPWMPin) serves the CP PWM pin and the SPI bus."""

    def _set_state(self, value: Any) -> None:
        MockPin._set_state(self, value)  # keep a bool state: the SPI mock XORs it
        for device in self.spi_devices:
            device.on_clock()


class _SelectPin(MockSPISelectPin, MockPWMPin):  # type: ignore[misc]
    def _set_state(self, value: Any) -> None:
        MockPin._set_state(self, value)
        if self.spi_device:
            self.spi_device.on_select()


class MockMcp3008(MockSPIDevice):  # type: ignore[misc]
    def __init__(self, reference_v: float, pin_factory: Any, select_pin: int = 8) -> None:
        # MockSPIDevice.__init__ would create non-PWM mock pins, which a PWM mock factory then refuses.
        self.clock_pin = pin_factory.pin(11, pin_class=_ClockPin)
        self.mosi_pin = pin_factory.pin(10)
        self.miso_pin = pin_factory.pin(9)
        self.select_pin = pin_factory.pin(select_pin, pin_class=_SelectPin)
        self.clock_polarity = self.clock_phase = self.lsb_first = self.select_high = False
        self.bits_per_word = 8
        self.rx_bit = 0
        self.rx_buf: list[int] = []
        self.tx_buf: list[int] = []
        self.clock_pin.spi_devices.append(self)
        self.select_pin.spi_device = self
        self._answered = False
        self.reference_v = reference_v
        self._cycles: dict[int, Iterator[float]] = {}
        self._sources: dict[int, Callable[[], Sequence[float]]] = {}
        self.conversions = 0

    def set_voltages(self, channel: int, volts: Sequence[float]) -> None:
        """Volts at the ADC pin, served in turn (a single value = a steady level)."""
        self._sources.pop(channel, None)
        self._cycles[channel] = itertools.cycle(list(volts))

    def set_source(self, channel: int, source: Callable[[], Sequence[float]]) -> None:
        """Volts computed at each conversion (e.g. from the pilot output and the car's state); when the
        source gives several values they are served in turn."""
        self._sources[channel] = source

    def on_start(self) -> None:
        super().on_start()
        self._answered = False
        # MockPin records every level change; thousands per burst would grow without bound (and make
        # garbage collection pauses part of the measured latency).
        for pin in (self.clock_pin, self.mosi_pin, self.miso_pin, self.select_pin):
            pin.clear_states()

    def on_bit(self) -> None:
        if self._answered or 1 not in self.rx_buf:
            return
        start = self.rx_buf.index(1)
        if len(self.rx_buf) - start < 5:
            return
        bits = [int(b) for b in self.rx_buf[start + 2 : start + 5]]
        channel = bits[0] << 2 | bits[1] << 1 | bits[2]
        source = self._sources.get(channel)
        if source is not None:
            values = source()
            volts = values[self.conversions % len(values)]
        else:
            volts = next(self._cycles.get(channel, iter([0.0])))
        code = max(0, min(1023, round(volts / self.reference_v * 1023)))
        self.conversions += 1
        self._answered = True
        self.tx_buf = [0, 0]  # a don't-care bit while sampling, then the null bit
        self.tx_word(code, 10)
