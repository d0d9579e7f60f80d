"""The driver display: what the charger shows the person at the connector (status, price, running cost,
final cost, a QR code where the display can draw one). The display only draws; what to say, in which
language, comes from the firmware's display service.

`show` is called from the event loop and must return at once: drivers that talk to slow buses (I²C) hand
the content to a worker thread, latest content wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class DisplayContent:
    lines: tuple[str, ...]
    qr_text: str | None = None  # a payment or receipt link; drawn as a QR code where `qr_capable`

    def as_dict(self) -> dict[str, object]:
        return {"lines": list(self.lines), "qr_text": self.qr_text}


@runtime_checkable
class DriverDisplay(Protocol):
    @property
    def columns(self) -> int: ...

    @property
    def rows(self) -> int: ...

    @property
    def qr_capable(self) -> bool: ...

    @property
    def content(self) -> DisplayContent | None:
        """What the display shows now (None before the first `show`)."""

    def show(self, content: DisplayContent) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def fit(content: DisplayContent, columns: int, rows: int, qr_capable: bool) -> DisplayContent:
    """Cut to the display's size; a display without QR support shows the link's text instead (if room)."""
    lines = list(content.lines)
    if content.qr_text and not qr_capable:
        lines.append(content.qr_text)
    lines = (lines + [""] * rows)[:rows]  # every row is written: nothing of the last content stays
    return DisplayContent(tuple(line[:columns].ljust(columns) for line in lines),
                          content.qr_text if qr_capable else None)
