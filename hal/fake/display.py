"""The simulator's driver display: keeps what it was asked to show (visible in `chargepi status` and
`chargepi sim status`), 20 x 4 characters, and it can draw QR codes."""

from __future__ import annotations

from hal.display import DisplayContent, fit


class SimulatedDisplay:
    columns = 20
    rows = 4
    qr_capable = True

    def __init__(self) -> None:
        self._content: DisplayContent | None = None
        self.history: list[DisplayContent] = []

    @property
    def content(self) -> DisplayContent | None:
        return self._content

    def show(self, content: DisplayContent) -> None:
        self._content = fit(content, self.columns, self.rows, self.qr_capable)
        self.history.append(self._content)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
