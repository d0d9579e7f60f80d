"""DisplayService: decides what each connector's driver display shows, in the configured language.

Neutral (no OCPP): the core's events give the status and the energy; protocol adapters feed prices and
costs (`set_default_price`, `set_user_price`, `set_driver_language`, `set_running_cost`, `set_final_cost`,
`set_final_message`, `set_online`) in the charger's own terms. What the driver sees when (docs/pricing.md):
* idle: the status text and the default price (the offline price while the CSMS is unreachable);
* authorised / charging: the status, the energy, the running cost, the driver's own price when known, in
  the driver's own language when the CSMS named one;
* after the session: "thank you", the final cost and its text (and a QR code where the display draws one),
  or only a text when no cost is known, until the next car arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, MeterSampled, SessionStarted, SessionStopped, StatusChanged
from firmware.core.published import status_label
from firmware.display.texts import language_of, pick, text
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
    final: tuple[str | None, Texts, str | None] | None = None  # (cost text or none, texts, QR text)
    language: str | None = None  # the driver's, for this session and its final screen


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
        self._languages: dict[str, str] = {}  # idTag -> the driver's language
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
        return {"language": self._language(self._state[connector_id]), "lines": lines,
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

    def set_driver_language(self, id_tag: str, language: str) -> None:
        """The driver's language (e.g. from the CSMS's answer on the token): their screens use it."""
        language = language_of(language)
        self._languages[id_tag] = language
        for connector_id, state in self._state.items():
            if state.id_tag == id_tag:
                state.language = language
                self._refresh(connector_id)

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

    def set_final_message(self, connector_id: int, texts: Texts) -> None:
        """The end of the session without a cost (none came, e.g. offline): "thank you" and this text."""
        state = self._state.get(connector_id)
        if state is not None:
            state.final = (None, dict(texts), None)
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
                state.final = state.language = None  # the next car: the last driver's cost goes
        elif isinstance(event, SessionStarted):
            state.id_tag, state.meter_start_wh, state.energy_wh = event.id_tag, event.meter_start_wh, 0.0
            state.running_cost, state.final = None, None
            state.language = None if event.id_tag is None else self._languages.get(event.id_tag)
        elif isinstance(event, MeterSampled) and event.session_id is not None \
                and state.meter_start_wh is not None:
            state.energy_wh = max(0.0, event.reading.energy_import_wh - state.meter_start_wh)
        elif isinstance(event, SessionStopped):
            if state.id_tag is not None:
                self._user.pop(state.id_tag, None)
                self._languages.pop(state.id_tag, None)
            state.id_tag, state.meter_start_wh = None, None
        else:
            return
        self._refresh(event.connector_id)

    # --- composing ----------------------------------------------------------------------------------
    def price_text(self, id_tag: str | None, language: str | None = None) -> str | None:
        """The price the driver is shown: their own, else the default (the offline one when offline), in
        `language` (the display's when not given) where the CSMS sent that language."""
        lang = language or self.language
        own = self.user_price(id_tag)
        if own:
            return pick(own, lang)
        if not self._online and self._offline:
            return pick(self._offline, lang)
        return pick(self._default, lang)

    def _language(self, state: _Connector) -> str:
        return state.language or self.language

    def compose(self, connector_id: int) -> DisplayContent:
        state = self._state[connector_id]
        lang = self._language(state)
        if state.final is not None and state.id_tag is None:
            cost, texts, qr = state.final
            total = [] if cost is None else [text(lang, "total", cost=cost)]
            return DisplayContent((text(lang, "thanks"), *total, pick(texts, lang) or ""), qr)
        status = text(lang, state.status)
        if state.id_tag is not None or state.meter_start_wh is not None:
            lines = [status, text(lang, "energy", kwh=f"{state.energy_wh / 1000:.2f}")]
            lines.append(text(lang, "cost", cost=state.running_cost) if state.running_cost else "")
            lines.append(self.price_text(state.id_tag, lang) or "")
        else:
            lines = [status, self.price_text(None, lang) or ""]
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
