"""OCPP 1.6 "California Pricing" (OCA cost and price extension; docs/pricing.md): DataTransfer with
vendorId `org.openchargealliance.costmsg` and `data` a JSON string, fed into the neutral display service.

* SetUserPrice {idToken, priceText, priceTextExtra[]}: the driver's own price, before or during the session;
  Rejected without idToken.
* RunningCost {transactionId, cost, triggerMeterValue{atTime, atEnergykWh, atPowerkW, atCPStatus[]}}:
  Rejected for an unknown or finished transaction; each trigger sends one MeterValues (context Other).
* FinalCost {transactionId, cost, priceText, priceTextExtra[], qrCodeText}: Rejected for an unknown one.
* Keys: CustomDisplayCostAndPrice (read-only), NumberOfDecimalsForCostValues (preset), DefaultPrice
  ({priceText, priceTextOffline}), `DefaultPriceText,<language>`, WaitForSetUserPriceTimeout (ms: how long a
  StartTransaction - and the signing meter's begin - waits for SetUserPrice).
Key and message names: the OCA white paper "OCPP & California Pricing Requirements" v3.1 as EVerest
libocpp implements it (config/v16/profile_schemas/CostAndPrice.json); behaviour: docs/pricing.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from firmware.core.events import StatusChanged
from firmware.display.service import DisplayService, Texts
from firmware.display.texts import LANGUAGES
from firmware.ocpp.common.cost_triggers import CostTriggers, CostTriggerWatch
from firmware.ocpp.v16.messages import METER_VALUES
from firmware.ocpp.v16.services import Services16
from firmware.ocpp.v16.vocabulary import STATUS, StatusChanges16
from hal.types import MeterReading

log = logging.getLogger(__name__)

VENDOR = "org.openchargealliance.costmsg"
ONLINE_POLL_S = 1.0


def _texts(message: dict[str, Any], default_language: str) -> Texts:
    texts: Texts = {}
    if isinstance(message.get("priceText"), str):
        texts[default_language] = message["priceText"]
    for extra in message.get("priceTextExtra") or []:
        if isinstance(extra, dict) and isinstance(extra.get("language"), str) \
                and isinstance(extra.get("content"), str):
            texts[extra["language"]] = extra["content"]
    return texts


class Readings(Protocol):
    """The connectors' latest readings as 1.6 MeterValues (MeterSampling16)."""

    def latest_reading(self, connector_id: int) -> MeterReading | None: ...

    def meter_value_now(self, connector_id: int, reading: MeterReading,
                        context: str) -> dict[str, Any] | None: ...


class CaliforniaPricing16:
    def __init__(self, services: Services16, readings: Readings, display: DisplayService) -> None:
        self._services = services
        self._readings = readings
        self.display = display
        self._changes = StatusChanges16()  # atCPStatus fires on a change of the 1.6 status notification
        self._triggers = CostTriggerWatch(services.station, services.clock, services.spawn, self._send,
                                          self._status_name)
        self._price_set: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        for message, handler in (("SetUserPrice", self._set_user_price), ("RunningCost", self._running_cost),
                                 ("FinalCost", self._final_cost)):
            services.extensions.register_data_transfer(VENDOR, message, handler)
        services.config.on_change(self._config_changed)
        self._apply_default_price()

    @property
    def decimals(self) -> int:
        return self._services.config.get_int("NumberOfDecimalsForCostValues")

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch_online(), name="ocpp-cost-online")

    def stop(self) -> None:
        self._triggers.stop()
        if self._task is not None:
            self._task.cancel()

    async def _watch_online(self) -> None:
        """The display shows the offline price while the CSMS is unreachable, the default one again after."""
        while True:
            self.display.set_online(self._services.calls.online)
            await self._services.clock.sleep(ONLINE_POLL_S)

    # --- default prices -----------------------------------------------------------------------------
    def _config_changed(self, name: str, value: str) -> None:
        if name == "DefaultPrice" or name.startswith("DefaultPriceText,"):
            self._apply_default_price()

    def _apply_default_price(self) -> None:
        config = self._services.config
        default, offline = self._parse_default(config.get("DefaultPrice"), self.display.language)
        for language in LANGUAGES:
            text, text_offline = self._parse_default(config.get(f"DefaultPriceText,{language}"), language)
            default.update(text)
            offline.update(text_offline)
        self.display.set_default_price(default, offline)

    @staticmethod
    def _parse_default(raw: str, language: str) -> tuple[Texts, Texts]:
        if not raw.strip():
            return {}, {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {language: raw}, {}  # plain text
        if not isinstance(value, dict):
            return {language: raw}, {}
        default = {language: value["priceText"]} if isinstance(value.get("priceText"), str) else {}
        offline_text = value.get("priceTextOffline")
        offline = {language: offline_text} if isinstance(offline_text, str) else {}
        return default, offline

    # --- WaitForSetUserPriceTimeout -------------------------------------------------------------------
    async def wait_for_user_price(self, id_tag: str | None) -> Texts | None:
        """The driver's price text, waiting up to WaitForSetUserPriceTimeout for SetUserPrice."""
        wait_s = self._services.config.get_int("WaitForSetUserPriceTimeout") / 1000.0
        if id_tag is None or self.display.user_price(id_tag) is not None or wait_s <= 0 \
                or not self._services.calls.online:
            return self.display.user_price(id_tag)
        event = self._price_set.setdefault(id_tag, asyncio.Event())
        sleeper = asyncio.ensure_future(self._services.clock.sleep(wait_s))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
            self._price_set.pop(id_tag, None)
        return self.display.user_price(id_tag)

    async def tariff_text(self, id_tag: str | None) -> str | None:
        """The price text for a signing meter's TT field: the driver's own (waited for), else the default."""
        await self.wait_for_user_price(id_tag)
        return self.display.price_text(id_tag)

    def delay_start(self, id_tag: str | None, start: Callable[[], None]) -> bool:
        """Queue StartTransaction (`start`) after the user price came or the wait ran out; False when
        there is nothing to wait for (the caller starts at once)."""
        wait = self._services.config.get_int("WaitForSetUserPriceTimeout")
        if wait <= 0 or id_tag is None or self.display.user_price(id_tag) is not None \
                or not self._services.calls.online:
            return False

        async def later() -> None:
            try:
                await self.wait_for_user_price(id_tag)
            finally:
                start()

        self._services.spawn(later(), "ocpp-wait-user-price")
        return True

    # --- DataTransfer handlers ------------------------------------------------------------------------
    @staticmethod
    def _message(data: str | None) -> dict[str, Any] | None:
        try:
            message = json.loads(data or "")
        except json.JSONDecodeError:
            return None
        return message if isinstance(message, dict) else None

    def _set_user_price(self, data: str | None) -> tuple[str, str | None]:
        message = self._message(data)
        if message is None or not isinstance(message.get("idToken"), str) or not message["idToken"]:
            return "Rejected", None
        id_tag = message["idToken"]
        self.display.set_user_price(id_tag, _texts(message, self.display.language))
        event = self._price_set.get(id_tag)
        if event is not None:
            event.set()
        return "Accepted", None

    def _session(self, message: dict[str, Any]) -> tuple[str, int] | None:
        transaction_id = message.get("transactionId")
        if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
            return None
        session_id = self._services.outbox.session_for_transaction(transaction_id)
        if session_id is None:
            return None
        tx = self._services.outbox.transaction(session_id)
        return None if tx is None else (session_id, int(tx["connector_id"]))

    def _running_cost(self, data: str | None) -> tuple[str, str | None]:
        message = self._message(data)
        found = None if message is None else self._session(message)
        if message is None or found is None or not isinstance(message.get("cost"), int | float):
            return "Rejected", None
        session_id, connector_id = found
        running = self._services.station.session_of(connector_id)
        if running is None or str(running["id"]) != session_id:
            return "Rejected", None  # the transaction has ended
        self.display.set_running_cost(connector_id, float(message["cost"]), self.decimals)
        trigger = message.get("triggerMeterValue")
        if isinstance(trigger, dict):
            self._triggers.arm(connector_id, session_id, CostTriggers.parse(trigger),
                               float(running.get("meter_start_wh") or 0.0))
        return "Accepted", None

    def _final_cost(self, data: str | None) -> tuple[str, str | None]:
        message = self._message(data)
        found = None if message is None else self._session(message)
        if message is None or found is None or not isinstance(message.get("cost"), int | float):
            return "Rejected", None
        qr = message.get("qrCodeText") if isinstance(message.get("qrCodeText"), str) else None
        self.display.set_final_cost(found[1], float(message["cost"]), self.decimals,
                                    _texts(message, self.display.language), qr)
        return "Accepted", None

    def _status_name(self, event: StatusChanged) -> str | None:
        """The ChargePointStatus a 1.6 CSMS is told, None when it is told nothing new."""
        return STATUS[event.state].value if self._changes.visible(event) else None

    def _send(self, connector_id: int, session_id: str, why: str) -> None:
        reading = self._readings.latest_reading(connector_id)
        if reading is None:
            return
        value = self._readings.meter_value_now(connector_id, reading, "Other")
        if value is None:
            return
        log.info("RunningCost trigger %s: MeterValues for connector %d", why, connector_id)
        self._services.outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                   session_id=session_id)
        self._services.wake_outbox()
