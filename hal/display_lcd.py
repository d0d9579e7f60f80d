"""HD44780 character LCD behind a PCF8574 I²C backpack (the common 16x2 / 20x4 modules), driven with
RPLCD over smbus2: a maintained library that knows the HD44780 4-bit init sequence, the PCF8574 pin
mapping and the character ROMs (A00 has the European letters), which hand-written code would repeat.

I²C writes take tens of milliseconds for a full screen: `show` hands the content to one worker thread
(the latest content wins), so the event loop never waits on the bus. No QR codes: the link is shown as
text when a line is free.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hal.display import DisplayContent, fit

log = logging.getLogger(__name__)


class Hd44780Display:
    qr_capable = False

    def __init__(self, *, bus: int = 1, address: int = 0x27, columns: int = 20, rows: int = 4,
                 charmap: str = "A00") -> None:
        self.bus = bus
        self.address = address
        self.columns = columns
        self.rows = rows
        self.charmap = charmap
        self._lcd: Any = None
        self._content: DisplayContent | None = None
        self._pending: DisplayContent | None = None
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.failures = 0

    @property
    def content(self) -> DisplayContent | None:
        return self._content

    async def start(self) -> None:
        from RPLCD.i2c import CharLCD

        self._lcd = CharLCD("PCF8574", self.address, port=self.bus, cols=self.columns, rows=self.rows,
                            charmap=self.charmap, auto_linebreaks=False)
        self._thread = threading.Thread(target=self._run, name="lcd", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._lcd is not None:
            try:
                self._lcd.close(clear=True)
            except OSError:
                log.warning("LCD at %#x: could not clear on stop", self.address)

    def show(self, content: DisplayContent) -> None:
        fitted = fit(content, self.columns, self.rows, self.qr_capable)
        with self._wake:
            self._content = fitted
            self._pending = fitted
            self._wake.notify()

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until the worker has written the latest content (tests, shutdown)."""
        with self._wake:
            return self._wake.wait_for(lambda: self._pending is None, timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._stopping)
                if self._stopping:
                    return
                content = self._pending
            assert content is not None
            try:
                for row, line in enumerate(content.lines):
                    self._lcd.cursor_pos = (row, 0)
                    self._lcd.write_string(line)
            except OSError as exc:  # a loose cable must not take the charger down: try again next time
                self.failures += 1
                log.warning("LCD at %#x on I2C bus %d: %s", self.address, self.bus, exc)
            with self._wake:
                if self._pending is content:
                    self._pending = None
                self._wake.notify_all()
