"""DisplayService: decides what each connector's driver display shows, in the configured language.

Neutral (no OCPP): the core's events give the status and the energy; protocol adapters feed prices and
costs (`set_default_price`, `set_user_price`, `set_running_cost`, `set_final_cost`, `set_online`) in the
charger's own terms. What the driver sees when (docs/pricing.md):
* idle: the status text and the default price (the offline price while the CSMS is unreachable);
* authorised / charging: the status, the energy, the running cost, the driver's own price when known;
* after the session: "thank you", the final cost and its text (and a QR code where the display draws one)
  until the next car arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, MeterSampled, SessionStarted, SessionStopped, StatusChanged
from firmware.core.published import status_label
from firmware.display.texts import pick, text
from hal.display import DisplayContent, DriverDisplay

log = logging.getLogger(__name__)
Texts = dict[str, str]  # language -> text


def format_cost(cost: float, decimals: int, currency: str = "") -> str:
    amount = f"{cost:.{max(0, min(decimals, 6))}f}"
    return f"{currency} {amount}".strip()


@dataclass
class _Connector:
    status: str = "Available"
    id_tag: str | None = None
    meter_start_wh: float | None = None
    energy_wh: float = 0.0
    running_cost: str | None = None
    final: tuple[str, Texts, str | None] | None = None  # (cost text, texts, QR text)


class DisplayService:
    def __init__(self, station: StationApi, displays: dict[int, DriverDisplay], language: str = "en",
                 currency: str = "") -> None:
        self._displays = displays
        self.language = language
        self.currency = currency
        self._state = {cid: _Connector() for cid in displays}
        self._online = False
        self._default: Texts = {}
        self._offline: Texts = {}
        self._user: dict[str, Texts] = {}  # idTag -> the driver's own price text
        self._shown: dict[int, DisplayContent] = {}
        self._unsubscribe = station.subscribe(self._on_event)
        station.add_connector_status_field("display", self.status_of)

    async def start(self) -> None:
        for display in self._displays.values():
            await display.start()
        self._refresh_all()

    async def stop(self) -> None:
        self._unsubscribe()
        for display in self._displays.values():
            await display.stop()

    def status_of(self, connector_id: int) -> dict[str, Any] | None:
        display = self._displays.get(connector_id)
        if display is None:
            return None
        content = display.content
        lines = [] if content is None else [line.rstrip() for line in content.lines]
        return {"language": self.language, "lines": lines,
                "qr_text": None if content is None else content.qr_text}

    # --- what the protocol adapters tell ----------------------------------------------------------
    def set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self._refresh_all()

    def set_default_price(self, texts: Texts, offline: Texts | None = None) -> None:
        self._default = dict(texts)
        if offline is not None:
            self._offline = dict(offline)
        self._refresh_all()

    def set_user_price(self, id_tag: str, texts: Texts) -> None:
        self._user[id_tag] = dict(texts)
        self._refresh_all()

    def user_price(self, id_tag: str | None) -> Texts | None:
        return None if id_tag is None else self._user.get(id_tag)

    def set_running_cost(self, connector_id: int, cost: float, decimals: int) -> None:
        state = self._state.get(connector_id)
        if state is not None:
            state.running_cost = format_cost(cost, decimals, self.currency)
            self._refresh(connector_id)

    def set_final_cost(self, connector_id: int, cost: float, decimals: int, texts: Texts | None = None,
                       qr_text: str | None = None) -> None:
        state = self._state.get(connector_id)
        if state is not None:
            state.final = (format_cost(cost, decimals, self.currency), dict(texts or {}), qr_text)
            self._refresh(connector_id)

    def shows(self, connector_id: int) -> bool:
        return connector_id in self._displays

    # --- core events --------------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        state = self._state.get(getattr(event, "connector_id", -1))
        if state is None:
            return
        if isinstance(event, StatusChanged):
            state.status = status_label(event.state)
            if state.status == "Preparing" and state.id_tag is None:
                state.final = None  # the next car: the last driver's cost goes
        elif isinstance(event, SessionStarted):
            state.id_tag, state.meter_start_wh, state.energy_wh = event.id_tag, event.meter_start_wh, 0.0
            state.running_cost, state.final = None, None
        elif isinstance(event, MeterSampled) and event.session_id is not None \
                and state.meter_start_wh is not None:
            state.energy_wh = max(0.0, event.reading.energy_import_wh - state.meter_start_wh)
        elif isinstance(event, SessionStopped):
            if state.id_tag is not None:
                self._user.pop(state.id_tag, None)
            state.id_tag, state.meter_start_wh = None, None
        else:
            return
        self._refresh(event.connector_id)

    # --- composing ----------------------------------------------------------------------------------
    def price_text(self, id_tag: str | None) -> str | None:
        """The price the driver is shown: their own, else the default (the offline one when offline)."""
        own = self.user_price(id_tag)
        if own:
            return pick(own, self.language)
        if not self._online and self._offline:
            return pick(self._offline, self.language)
        return pick(self._default, self.language)

    def compose(self, connector_id: int) -> DisplayContent:
        state = self._state[connector_id]
        lang = self.language
        if state.final is not None and state.id_tag is None:
            cost, texts, qr = state.final
            return DisplayContent((text(lang, "thanks"), text(lang, "total", cost=cost),
                                   pick(texts, lang) or ""), qr)
        status = text(lang, state.status)
        if state.id_tag is not None or state.meter_start_wh is not None:
            lines = [status, text(lang, "energy", kwh=f"{state.energy_wh / 1000:.2f}")]
            lines.append(text(lang, "cost", cost=state.running_cost) if state.running_cost else "")
            lines.append(self.price_text(state.id_tag) or "")
        else:
            lines = [status, self.price_text(None) or ""]
        if not self._online:
            lines.append(text(lang, "offline"))
        return DisplayContent(tuple(lines))

    def _refresh(self, connector_id: int) -> None:
        content = self.compose(connector_id)
        if self._shown.get(connector_id) == content:
            return  # meter samples every second must not rewrite an unchanged screen
        self._shown[connector_id] = content
        try:
            self._displays[connector_id].show(content)
        except Exception:  # a broken display must not disturb the charger
            log.exception("display of connector %d failed", connector_id)

    def _refresh_all(self) -> None:
        for connector_id in self._displays:
            self._refresh(connector_id)
