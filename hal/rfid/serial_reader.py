"""Serial RFID readers that send each card UID as a line of text (pyserial; any URL pyserial accepts,
e.g. /dev/ttyUSB0 or /dev/serial/by-id/...). A reader thread reads lines and reopens the port on errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from hal.clock import Clock
from hal.contract import Unsubscribe
from hal.rfid.uid import UidPublisher, uid_bytes_from_text

log = logging.getLogger(__name__)
REOPEN_S = 5.0


class SerialTokenReader:
    def __init__(
        self,
        port: str,
        baudrate: int,
        clock: Clock,
        case: str = "upper",
        reverse_bytes: bool = False,
        debounce_s: float = 2.0,
    ) -> None:
        self._port = port
        self._baudrate = baudrate
        self._publisher = UidPublisher(clock, case, reverse_bytes, debounce_s)
        self._serial: Any = None
        self.last_error: str | None = None  # why the reader is not usable right now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, callback: Callable[[str], None]) -> Unsubscribe:
        return self._publisher.subscribe(callback)

    def _open(self) -> Any:
        import serial

        return serial.serial_for_url(self._port, baudrate=self._baudrate, timeout=0.2)

    async def start(self) -> None:
        """Open the port; a missing reader is logged and retried (it must not stop the charger)."""
        try:
            self._serial = self._open()
            self.last_error = None
        except Exception as exc:
            self.last_error = f"RFID reader: cannot open {self._port}: {exc}"
            log.error("%s; retrying every %.0f s", self.last_error, REOPEN_S)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rfid-serial", daemon=True)
        self._thread.start()

    def handle_line(self, raw: bytes) -> str | None:
        line = raw.decode("ascii", errors="replace").strip()
        if not line:
            return None
        uid = uid_bytes_from_text(line)
        if uid is None:
            log.warning("RFID reader sent a line without a UID: %r", line)
            return None
        return self._publisher.publish(uid)

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                if self._serial is None:
                    self._serial = self._open()
                    self.last_error = None
                    log.info("RFID reader on %s opened", self._port)
                chunk = self._serial.read(64)
            except Exception as exc:
                if self.last_error is None:
                    log.error(
                        "RFID reader on %s failed: %s; reopening every %.0f s", self._port, exc, REOPEN_S
                    )
                self.last_error = f"RFID reader on {self._port}: {exc}"
                self._close_port()
                self._stop.wait(REOPEN_S)
                continue
            buffer += chunk
            while b"\n" in buffer or b"\r" in buffer:
                cut = min(i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0)
                line, buffer = buffer[:cut], buffer[cut + 1 :]
                self.handle_line(line)
            if len(buffer) > 256:  # garbage without line ends
                buffer = b""

    def _close_port(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:
                log.debug("closing %s failed", self._port, exc_info=True)
            self._serial = None

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close_port()
