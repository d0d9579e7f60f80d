"""USB HID "keyboard" RFID readers, read from /dev/input/eventN without extra dependencies: the device
file yields Linux `struct input_event` records (timeval, u16 type, u16 code, s32 value); key presses are
collected until Enter. The device is grabbed (EVIOCGRAB) so the digits do not reach a console."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import struct
import threading
from collections.abc import Callable

from hal.clock import Clock
from hal.contract import Unsubscribe
from hal.rfid.uid import UidPublisher, uid_bytes_from_decimal, uid_bytes_from_text

log = logging.getLogger(__name__)

# struct input_event: struct timeval (two C longs) + __u16 type + __u16 code + __s32 value.
EVENT = struct.Struct("llHHi")
EV_KEY = 0x01
KEY_PRESS = 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
# Linux input-event-codes.h
KEY_CHARS = {
    2: "1",
    3: "2",
    4: "3",
    5: "4",
    6: "5",
    7: "6",
    8: "7",
    9: "8",
    10: "9",
    11: "0",
    30: "A",
    48: "B",
    46: "C",
    32: "D",
    18: "E",
    33: "F",
    79: "1",
    80: "2",
    81: "3",
    75: "4",
    76: "5",
    77: "6",
    71: "7",
    72: "8",
    73: "9",
    82: "0",
}
ENTER_KEYS = {28, 96}  # KEY_ENTER, KEY_KPENTER
REOPEN_S = 5.0


class HidTokenReader:
    def __init__(
        self,
        device: str,
        clock: Clock,
        digits: str = "hex",
        case: str = "upper",
        reverse_bytes: bool = False,
        debounce_s: float = 2.0,
    ) -> None:
        self._device = device
        self._digits = digits
        self._publisher = UidPublisher(clock, case, reverse_bytes, debounce_s)
        self._fd: int | None = None
        self.last_error: str | None = None  # why the reader is not usable right now
        self._typed = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, callback: Callable[[str], None]) -> Unsubscribe:
        return self._publisher.subscribe(callback)

    def _open(self) -> bool:
        try:
            fd = os.open(self._device, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if self.last_error is None:
                log.error(
                    "RFID reader: cannot open %s: %s; retrying every %.0f s", self._device, exc, REOPEN_S
                )
            self.last_error = (
                f"RFID reader: cannot open {self._device}: {exc} (is the user in the `input` group?)"
            )
            return False
        with contextlib.suppress(OSError):  # only real evdev devices can be grabbed
            fcntl.ioctl(fd, EVIOCGRAB, 1)
        self._fd = fd
        self.last_error = None
        return True

    async def start(self) -> None:
        """Open the device; a missing reader is logged and retried (it must not stop the charger)."""
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rfid-hid", daemon=True)
        self._thread.start()

    def handle_event(self, ev_type: int, code: int, value: int) -> str | None:
        if ev_type != EV_KEY or value != KEY_PRESS:
            return None
        if code in ENTER_KEYS:
            typed, self._typed = self._typed, ""
            uid = uid_bytes_from_decimal(typed) if self._digits == "decimal" else uid_bytes_from_text(typed)
            if uid is None:
                if typed:
                    log.warning("RFID reader typed %r, not a %s UID", typed, self._digits)
                return None
            return self._publisher.publish(uid)
        char = KEY_CHARS.get(code)
        if char is not None and len(self._typed) < 64:
            self._typed += char
        return None

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            fd = self._fd
            if fd is None:
                if not self._open():
                    self._stop.wait(REOPEN_S)
                continue
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(fd, EVENT.size * 64)
            except BlockingIOError:
                continue
            except OSError as exc:  # unplugged: reopen
                log.error("RFID reader %s failed: %s", self._device, exc)
                self.last_error = f"RFID reader {self._device}: {exc}"
                self._close_fd()
                continue
            if not data:  # writer side closed (pipes in tests); wait for more
                self._stop.wait(0.05)
                continue
            pending += data
            while len(pending) >= EVENT.size:
                _, _, ev_type, code, value = EVENT.unpack_from(pending)
                pending = pending[EVENT.size :]
                self.handle_event(ev_type, code, value)

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close_fd()
