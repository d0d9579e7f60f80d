"""OCPP 2.0.1 TariffAndCost (I01-I06) and the OCA cost extension in customData, fed into the version-neutral
display service (firmware/display/service.py). What the driver sees when: docs/pricing.md; the facts:
docs/reference/ocpp201.md §7.

* I01/I06: `idTokenInfo.personalMessage` of an answer about the driver's token (`personal`: the
  TransactionEventResponse here, and any AuthorizeResponse) and `TransactionEventResponse
  .updatedPersonalMessage` are the driver's tariff, shown while that token charges; `idTokenInfo.language1`
  is the driver's language, which their screens then use.
* I02: `totalCost` of the answer to a Started/Updated, and CostUpdated (always answered), are the running
  cost. A CostUpdated for a transaction that does not run here is answered and shown nowhere.
* I03: `totalCost` of the answer to Ended is the final cost (0.00 = free), shown unless the EVSE has
  started a new transaction since.
* I04: TariffCostCtrlr.TariffFallbackMessage (and `[<lang>]`) is the price shown when no driver tariff is
  known; OfflineTariffFallbackMessage while the CSMS is unreachable (TariffFallbackMessage when unset).
* I05: TotalCostFallbackMessage is the final screen (a text, no amount) when a session ends offline or the
  answer to Ended has no totalCost.
* customData `{vendorId "org.openchargealliance.costmsg", triggerMeterValue}` of a CostUpdated or a
  TransactionEventResponse arms the running-cost triggers (firmware/ocpp/common/cost_triggers.py); each
  one reached sends a TransactionEvent Updated with the TxUpdatedMeasurands, context Other. atCPStatus
  names 2.0.1 chargingStates (Charging, SuspendedEV, SuspendedEVSE, EVConnected, Idle): the connectorStatus
  stays Occupied throughout a session.
  customData `{vendorId "org.openchargealliance.org.qrcode", qrCodeText}` on the answer to Ended is the
  final screen's QR code. The `ocpp` library rewrites every key inside customData (`atPowerkW` arrives as
  `at_powerkw`): keys are read whatever their case.
* TariffCostCtrlr.Enabled[Tariff] false: no tariff texts; Enabled[Cost] false: no costs. Currency and
  NumberOfDecimalsForCostValues format the costs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, SessionStopped, StatusChanged
from firmware.display.service import DisplayService, Texts
from firmware.display.texts import LANGUAGES, language_of
from firmware.ocpp.common.cost_triggers import CostTriggers, CostTriggerWatch, field
from firmware.ocpp.common.outbox import Row
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.delivery import Delivery201
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.status import charging_state
from firmware.ocpp.v201.transactions import Transactions201
from firmware.ocpp.v201.tx_store import EVENT
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

COST_VENDOR = "org.openchargealliance.costmsg"
QR_VENDOR = "org.openchargealliance.org.qrcode"
# The meter values a running-cost trigger asks for go out as an Updated with this triggerReason. 2.0.1's
# TriggerReasonEnumType has no RunningCost (that value is OCPP 2.1's; the 2.0.1 schemas, which both the
# station and a CSMS validate against, refuse it): "Trigger" (requested by the CSMS) is the nearest, and
# the context Other tells these samples from a TriggerMessage's (context Trigger).
COST_TRIGGER_REASON = "Trigger"
COST_TRIGGER_CONTEXT = "Other"
CTRLR = "TariffCostCtrlr"
_TAGS = re.compile(r"<[^>]*>")


def message_texts(message: Any, language: str) -> Texts:
    """A MessageContentType {format, language?, content} as texts by language (`language` when it names
    none); HTML loses its tags (a character display shows text)."""
    if not isinstance(message, Mapping):
        return {}
    content = field(message, "content")
    if not isinstance(content, str) or not content.strip():
        return {}
    if field(message, "format") == "HTML":
        content = _TAGS.sub("", content).strip()
    tag = field(message, "language")
    return {language_of(tag) if isinstance(tag, str) and tag else language: content}


def driver_texts(id_token_info: Mapping[str, Any] | None, updated: Any, language: str) -> Texts:
    """The driver's tariff text in an answer: the updated personal message (I06), else the idTokenInfo's
    personal message (I01)."""
    return message_texts(updated, language) or message_texts(field(id_token_info or {}, "personalMessage"),
                                                             language)


def cost_triggers(custom_data: Any) -> CostTriggers | None:
    """The running-cost triggers of a customData object of the cost extension; None when it has none."""
    if not isinstance(custom_data, Mapping) or field(custom_data, "vendorId") != COST_VENDOR:
        return None
    trigger = field(custom_data, "triggerMeterValue")
    return CostTriggers.parse(trigger) if isinstance(trigger, Mapping) else None


def qr_code(custom_data: Any) -> str | None:
    if not isinstance(custom_data, Mapping) or field(custom_data, "vendorId") != QR_VENDOR:
        return None
    text = field(custom_data, "qrCodeText")
    return text if isinstance(text, str) and text else None


class TariffCost201:
    def __init__(self, station: StationApi, clock: Clock, model: DeviceModel, display: DisplayService,
                 transactions: Transactions201, delivery: Delivery201, connected: Callable[[], bool]) -> None:
        self.station = station
        self.model = model
        self.display = display
        self.transactions = transactions
        self._connected = connected
        self._states: dict[int, str] = {}  # the chargingState each EVSE last entered
        self._triggers = CostTriggerWatch(
            station, clock, lambda coro, name: asyncio.create_task(coro, name=name), self._triggered,
            self._status_name)
        delivery.on_answer(EVENT, self._answered)
        model.on_change(self._variable_changed)
        self._unsubscribe = station.subscribe(self._on_event)
        self._apply_variables()

    def stop(self) -> None:
        self._unsubscribe()
        self._triggers.stop()

    async def online(self, cp: ChargePoint201) -> None:
        """Registered: the display shows the online prices until the connection ends."""
        self.display.set_online(True)
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.display.set_online(False)

    # --- TariffCostCtrlr ------------------------------------------------------------------------------
    def _enabled(self, instance: str) -> bool:
        return self.model.flag(f"{CTRLR}.Enabled[{instance}]")

    @property
    def decimals(self) -> int:
        return self.model.integer(f"{CTRLR}.NumberOfDecimalsForCostValues")

    def _texts(self, name: str) -> Texts:
        """A message variable in every language: the one without instance is in the display's language."""
        texts: Texts = {}
        default = self.model.text(f"{CTRLR}.{name}")
        if default:
            texts[self.display.language] = default
        for language in LANGUAGES:
            text = self.model.text(f"{CTRLR}.{name}[{language}]")
            if text:
                texts[language] = text
        return texts

    def _variable_changed(self, key: Any, value: str) -> None:
        if key.text().startswith(f"{CTRLR}."):
            self._apply_variables()

    def _apply_variables(self) -> None:
        self.display.currency = self.model.text(f"{CTRLR}.Currency")
        tariff = self._enabled("Tariff")
        self.display.set_default_price(self._texts("TariffFallbackMessage") if tariff else {},
                                       self._texts("OfflineTariffFallbackMessage") if tariff else {})

    # --- the driver's tariff (I01, I06) ---------------------------------------------------------------
    def personal(self, id_tag: str, id_token_info: Mapping[str, Any] | None,
                 updated: Mapping[str, Any] | None = None) -> None:
        """What an answer about the driver's token says to them: language1, then the updated personal
        message (I06) or else the personal message (I01)."""
        if not self._enabled("Tariff"):
            return
        info = id_token_info or {}
        language = field(info, "language1")
        if isinstance(language, str) and language:
            self.display.set_driver_language(id_tag, language)
        own = language_of(language) if isinstance(language, str) and language else self.display.language
        texts = driver_texts(info, updated, own)
        if texts:
            self.display.set_user_price(id_tag, texts)

    # --- answers to TransactionEvent (I01-I03, I05, I06) ----------------------------------------------
    def _answered(self, row: Row, answer: Any) -> None:
        transaction_id = row.session_id
        evse = None if transaction_id is None else self.transactions.store.evse_of(transaction_id)
        if evse is None:
            return
        tx = self.transactions.open.get(evse)
        running = tx is not None and tx.transaction_id == transaction_id
        if running and tx is not None and tx.id_token is not None:
            self.personal(tx.id_token, answer.id_token_info, answer.updated_personal_message)
        if not self._enabled("Cost"):
            return
        cost = answer.total_cost
        if row.payload.get("event_type") == "Ended":
            if tx is not None:
                return  # the EVSE's next transaction runs: its driver is not shown the last one's cost
            if isinstance(cost, int | float):
                final = driver_texts(answer.id_token_info, answer.updated_personal_message,
                                     self.display.language)
                self.display.set_final_cost(evse, float(cost), self.decimals, final,
                                            qr_code(answer.custom_data))
            else:
                self._total_cost_fallback(evse)
        elif running:
            if isinstance(cost, int | float):
                self.display.set_running_cost(evse, float(cost), self.decimals)
            self._arm(evse, answer.custom_data)

    def _total_cost_fallback(self, evse: int) -> None:
        texts = self._texts("TotalCostFallbackMessage")
        if texts:
            self.display.set_final_message(evse, texts)

    def _on_event(self, event: CoreEvent) -> None:
        """I05: a session that ends while the CSMS is unreachable gets no total cost now."""
        if isinstance(event, SessionStopped) and not self._connected() and self._enabled("Cost"):
            self._total_cost_fallback(event.connector_id)

    # --- CostUpdated (I02) ------------------------------------------------------------------------------
    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: float, transaction_id: str, custom_data: Any = None,
                        **kwargs: Any) -> Any:
        evse = self.transactions.transaction_of(transaction_id)
        if evse is None:
            log.info("CostUpdated for transaction %s, which does not run here", transaction_id)
        else:
            if self._enabled("Cost"):
                self.display.set_running_cost(evse, float(total_cost), self.decimals)
            self._arm(evse, custom_data)
        return call_result.CostUpdated()

    # --- running-cost triggers ----------------------------------------------------------------------------
    def _arm(self, evse: int, custom_data: Any) -> None:
        triggers = cost_triggers(custom_data)
        tx = self.transactions.open.get(evse)
        if triggers is None or tx is None or tx.session_id is None:
            return
        session = self.station.session_of(evse)
        start = float(session.get("meter_start_wh") or 0.0) if session is not None else 0.0
        self._triggers.arm(evse, tx.session_id, triggers, start)

    def _status_name(self, event: StatusChanged) -> str | None:
        """The chargingState the EVSE enters; None when it stays the same."""
        state = charging_state(event.state)
        if self._states.get(event.connector_id) == state:
            return None
        self._states[event.connector_id] = state
        return state

    def _triggered(self, evse: int, session_id: str, which: str) -> None:
        tx = self.transactions.open.get(evse)
        if tx is None or tx.session_id != session_id:
            return
        if self.transactions.meter_update(evse, COST_TRIGGER_REASON, COST_TRIGGER_CONTEXT):
            log.info("running-cost trigger %s: TransactionEvent Updated for EVSE %d", which, evse)
