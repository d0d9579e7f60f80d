"""Card UID parsing, formatting (hex, case, byte order) and repeat suppression, shared by all readers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from hal.clock import Clock
from hal.contract import Unsubscribe
from hal.pubsub import Subscribers

_HEX_RUN = re.compile(r"(?:[0-9A-Fa-f]{2}[:\- ]?)+")
MIN_UID_BYTES = 4  # ISO 14443 UIDs are 4, 7 or 10 bytes; MIFARE Classic has 4


def uid_bytes_from_text(line: str) -> bytes | None:
    """The longest run of hex byte pairs in a reader's line ("04A2B3C4", "UID: 04:A2:B3:C4", ...)."""
    runs = [re.sub(r"[:\- ]", "", r) for r in _HEX_RUN.findall(line)]
    runs = [r for r in runs if len(r) % 2 == 0 and len(r) >= 2 * MIN_UID_BYTES]
    if not runs:
        return None
    return bytes.fromhex(max(runs, key=len))


def uid_bytes_from_decimal(digits: str) -> bytes | None:
    """HID readers often type the UID as a decimal number (e.g. 10 digits for a 4-byte UID)."""
    if not digits.isdigit():
        return None
    value = int(digits)
    length = max(MIN_UID_BYTES, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def format_uid(uid: bytes, case: str, reverse_bytes: bool) -> str:
    data = uid[::-1] if reverse_bytes else uid
    text = data.hex()
    return text.upper() if case == "upper" else text


class UidPublisher:
    """Formats and pushes UIDs to subscribers, dropping the same card presented again within `debounce_s`."""

    def __init__(self, clock: Clock, case: str, reverse_bytes: bool, debounce_s: float) -> None:
        self._clock = clock
        self._case = case
        self._reverse = reverse_bytes
        self._debounce_s = debounce_s
        self._last: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._subscribers: Subscribers[str] = Subscribers("RFID reader")

    def subscribe(self, callback: Callable[[str], None]) -> Unsubscribe:
        return self._subscribers.subscribe(callback)

    def publish(self, uid: bytes) -> str | None:
        text = format_uid(uid, self._case, self._reverse)
        now = self._clock.monotonic()
        with self._lock:
            if self._last is not None and self._last[0] == text and now - self._last[1] < self._debounce_s:
                self._last = (text, now)  # a card held on the reader keeps being suppressed
                return None
            self._last = (text, now)
        self._subscribers.publish(text)
        return text
