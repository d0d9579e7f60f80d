"""Test support: an SMBus stand-in with an HD44780 behind a PCF8574 on it. It decodes what was written
(PCF8574 pins D7-D4 | BL | EN | RW | RS, a nibble latched on EN's falling edge; the controller starts in
8-bit mode and switches to 4-bit on function set 0x20) into the display's DDRAM, so a test reads the
screen, not the driver's calls."""

from __future__ import annotations

EN, RS, BACKLIGHT = 0x04, 0x01, 0x08


class Hd44780OnPcf8574:
    def __init__(self, columns: int = 20, rows: int = 4) -> None:
        self.columns = columns
        self.rows = rows
        self.ddram = [0x20] * 0x80
        self.address = 0
        self.four_bit = False
        self._high: int | None = None
        self._last = 0
        self.backlight = False
        self.to_cgram = False
        self.fail = False  # raise OSError on the next write (a loose cable)

    def write(self, value: int) -> None:
        if self.fail:
            self.fail = False
            raise OSError(121, "Remote I/O error")
        self.backlight = bool(value & BACKLIGHT)
        if self._last & EN and not value & EN:
            self._latch(self._last >> 4, bool(self._last & RS))
        self._last = value

    def _latch(self, nibble: int, data: bool) -> None:
        if not self.four_bit:
            self._byte(nibble << 4, data)
            return
        if self._high is None:
            self._high = nibble
            return
        byte, self._high = (self._high << 4) | nibble, None
        self._byte(byte, data)

    def _byte(self, byte: int, data: bool) -> None:
        if data:
            if not self.to_cgram:
                self.ddram[self.address] = byte
                self.address = (self.address + 1) % 0x80
            return
        if byte & 0x80:
            self.address, self.to_cgram = byte & 0x7F, False
        elif byte & 0x40:
            self.to_cgram = True
        elif byte & 0x20:
            self.four_bit = not byte & 0x10
        elif byte == 0x01:
            self.ddram = [0x20] * 0x80
            self.address = 0
        elif byte & 0xFE == 0x02:
            self.address = 0

    def screen(self) -> list[bytes]:
        offsets = (0x00, 0x40, self.columns, 0x40 + self.columns)
        return [bytes(self.ddram[o : o + self.columns]) for o in offsets[: self.rows]]

    def text(self) -> list[str]:
        return [line.decode("latin-1").rstrip() for line in self.screen()]


class FakeSMBus:
    """Replaces smbus2.SMBus: one display per I²C address, shared across opens of the same port."""

    devices: dict[tuple[int, int], Hd44780OnPcf8574] = {}

    def __init__(self, port: int) -> None:
        self.port = port

    def write_byte(self, address: int, value: int) -> None:
        device = self.devices.get((self.port, address))
        if device is None:
            raise OSError(6, f"no device at {address:#x} on bus {self.port}")
        device.write(value)

    def close(self) -> None:
        return None
