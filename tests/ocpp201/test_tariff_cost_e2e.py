"""OCPP 2.0.1 TariffAndCost (I01-I06) end to end: a whole charger with the simulator's driver display against
the `ocpp` library's v201 CSMS. What the driver sees is read from the status document (`chargepi status
--json`, checked against its schema), what the CSMS sees from the requests it received."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocpp import exceptions
from ocpp.v201 import call, call_result

import firmware.control
from firmware.core.authorization import AuthResult
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.tariff_cost import COST_VENDOR, QR_VENDOR
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import adapter, events, kinds

DISPLAY = {"id": 1, "hal": {"display": {"driver": "fake"}}}
SCHEMA = json.loads((Path(firmware.control.__file__).parent / "status.schema.json").read_text())


class Tokens:
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        return AuthResult(True, source="test")


def shown(h: Harness) -> dict[str, Any]:
    doc = h.station.snapshot()
    jsonschema.validate(doc, SCHEMA)
    display: dict[str, Any] = doc["connectors"][0]["display"]
    return display


def screen(h: Harness) -> list[str]:
    lines: list[str] = shown(h)["lines"]
    return lines


async def charger(make_harness: HarnessFactory, csms: Csms, language: str = "de") -> Harness:
    h: Harness = await make_harness(ocpp=section(csms.url), connectors=[DISPLAY],
                                    display={"language": language, "currency": "EUR"})
    h.station.set_authorizer(Tokens(), auto_start=False)
    await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
    return h


async def set_variables(csms: Csms, values: dict[tuple[str, str | None], str]) -> None:
    assert csms.peer is not None
    data = [{"component": {"name": "TariffCostCtrlr"},
             "variable": {"name": name, **({"instance": instance} if instance else {})},
             "attribute_value": value} for (name, instance), value in values.items()]
    answer = await csms.peer.call(call.SetVariables(set_variable_data=data), suppress=False)
    assert [r["attribute_status"] for r in answer.set_variable_result] == ["Accepted"] * len(data)


def cost_triggered(csms: Csms) -> list[dict[str, Any]]:
    """The Updated events the running-cost triggers sent."""
    return [e for e in events(csms) if e["trigger_reason"] == "Trigger"]


async def test_priced_session_the_driver_sees(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        running: dict[str, Any] = {"cost": None}

        def answer(p: dict[str, Any]) -> Any:
            if p["event_type"] == "Ended":
                return call_result.TransactionEvent(total_cost=3.314, custom_data={
                    "vendorId": QR_VENDOR, "qrCodeText": "https://pay.example/r/42"})
            info = None
            if "id_token" in p:  # I01: the driver's tariff and language come with the answer on the token
                info = {"status": "Accepted", "language1": "fr-BE", "personal_message": {
                    "format": "UTF8", "language": "fr", "content": "0,30 EUR/kWh tarif"}}
            return call_result.TransactionEvent(id_token_info=info, total_cost=running["cost"])

        csms.answers["TransactionEvent"] = answer
        h = await charger(make_harness, csms)
        await set_variables(csms, {("TariffFallbackMessage", None): "0.40 EUR/kWh",
                                   ("TariffFallbackMessage", "de"): "0,40 EUR/kWh"})
        assert screen(h)[:2] == ["Zum Laden einstecken", "0,40 EUR/kWh"]  # I04: no driver tariff yet

        h.sim.plug()
        await h.advance(1)
        h.sim.swipe("CARD-7")
        await eventually(lambda: "0,30 EUR/kWh tarif" in screen(h), h.clock, 0.1, within=15)
        await eventually(lambda: screen(h)[0] == "Charge en cours", h.clock, 0.1, within=15)
        assert shown(h)["language"] == "fr"  # the driver's language (idTokenInfo.language1)

        running["cost"] = 1.234  # I02: totalCost in the answer to the next Updated
        await eventually(lambda: "Coût EUR 1.23" in screen(h), h.clock, 1.0, within=90)
        running["cost"] = None
        tx_id = events(csms)[0]["transaction_info"]["transaction_id"]
        assert csms.peer is not None
        at_time = rfc3339(h.clock.now() + timedelta(seconds=120))
        got = await csms.peer.call(call.CostUpdated(total_cost=2.5, transaction_id=tx_id, custom_data={
            "vendorId": COST_VENDOR, "TriggerMeterValue": {   # keys in mixed case, as back ends send them
                "atTime": at_time, "AT_ENERGY_KWH": 1.0, "at_powerkW": 5.0, "atCPStatus": ["SuspendedEV"]}}),
            suppress=False)
        assert got.custom_data is None
        assert "Coût EUR 2.50" in screen(h)

        await h.advance(200)  # 22 kW for 200 s: past 1 kWh, and past atTime
        await eventually(lambda: len(cost_triggered(csms)) == 2, h.clock, 0.1, within=15)
        h.sim.pause()  # the car stops drawing: power falls through 5 kW, chargingState SuspendedEV
        await eventually(lambda: len(cost_triggered(csms)) == 4, h.clock, 0.2, within=15)
        for event in cost_triggered(csms):
            assert event["event_type"] == "Updated"
            contexts = {s["context"] for s in event["meter_value"][0]["sampled_value"]}
            measurands = {s["measurand"] for s in event["meter_value"][0]["sampled_value"]}
            assert contexts == {"Other"} and "Energy.Active.Import.Register" in measurands
        assert [e["seq_no"] for e in events(csms)] == list(range(len(events(csms))))

        h.sim.unplug()
        await eventually(lambda: screen(h)[:2] == ["Merci", "Total EUR 3.31"], h.clock, 0.1, within=15)
        assert shown(h)["qr_text"] == "https://pay.example/r/42"
        assert kinds(csms)[-1][0] == "Ended"

        # A CostUpdated for a transaction that does not run here is still answered (no Rejected exists).
        await csms.peer.call(call.CostUpdated(total_cost=9.0, transaction_id=tx_id), suppress=False)
        assert screen(h)[1] == "Total EUR 3.31"
        h.sim.plug()  # the next car: the last driver's cost and language go
        await eventually(lambda: screen(h)[0] == "Karte vorhalten", h.clock, 0.1, within=15)
        assert screen(h)[1] == "0,40 EUR/kWh"


async def test_updated_personal_message_replaces_the_tariff(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        def answer(p: dict[str, Any]) -> Any:
            if "id_token" in p and p["event_type"] == "Started":
                return call_result.TransactionEvent(id_token_info={"status": "Accepted", "personal_message": {
                    "format": "UTF8", "content": "0.30 EUR/kWh"}})
            if p["trigger_reason"] == "MeterValuePeriodic":  # I06
                return call_result.TransactionEvent(updated_personal_message={
                    "format": "HTML", "language": "en", "content": "<b>0.20 EUR/kWh</b> now"})
            return call_result.TransactionEvent()

        csms.answers["TransactionEvent"] = answer
        h = await charger(make_harness, csms, language="en")
        h.sim.plug()
        h.sim.swipe("CARD-8")
        await eventually(lambda: "0.30 EUR/kWh" in screen(h), h.clock, 0.1, within=15)
        await eventually(lambda: "0.20 EUR/kWh now" in screen(h), h.clock, 1.0, within=90)


async def test_offline_fallback_messages(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(
            total_cost=1.0 if p["event_type"] == "Updated" else None)
        h = await charger(make_harness, csms, language="en")
        await set_variables(csms, {("TariffFallbackMessage", None): "0.40 EUR/kWh",
                                   ("OfflineTariffFallbackMessage", "en"): "Offline 0.45 EUR/kWh",
                                   ("TotalCostFallbackMessage", None): "Bill by e-mail",
                                   ("Currency", None): "CHF"})
        assert screen(h)[:2] == ["Plug in to charge", "0.40 EUR/kWh"]

        await adapter(h).link.disable()  # I04: the CSMS is unreachable
        await eventually(lambda: "Offline" in screen(h), h.clock, 0.1, within=15)
        assert screen(h)[1] == "Offline 0.45 EUR/kWh"
        h.sim.plug()
        h.sim.swipe("CARD-9")
        await eventually(lambda: screen(h)[0] == "Charging", h.clock, 0.1, within=15)
        assert screen(h)[3] == "Offline 0.45 EUR/kWh"
        await h.advance(30)
        h.sim.unplug()  # I05: the session ends offline: no total cost, the fallback message
        await eventually(lambda: screen(h)[0] == "Thank you", h.clock, 0.1, within=15)
        assert screen(h)[1] == "Bill by e-mail"
        assert "Total" not in " ".join(screen(h))

        adapter(h).link.enable()  # back online: the queued events go out; the answer to Ended has no cost
        await eventually(lambda: any(e["event_type"] == "Ended" for e in events(csms)), h.clock, 0.5,
                         within=30)
        assert all(e["offline"] for e in events(csms))
        await eventually(lambda: "Offline" not in screen(h), h.clock, 0.1, within=15)
        assert screen(h)[:2] == ["Thank you", "Bill by e-mail"]
        h.sim.plug()
        await eventually(lambda: screen(h)[:2] == ["Present your card", "0.40 EUR/kWh"], h.clock, 0.1,
                         within=15)


async def test_costs_follow_enabled_and_currency(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(total_cost=4.5678)
        h = await charger(make_harness, csms, language="en")
        await set_variables(csms, {("Enabled", "Cost"): "false", ("Currency", None): "CHF",
                                   ("TariffFallbackMessage", None): "0.40 CHF/kWh"})
        h.sim.plug()
        h.sim.swipe("CARD-1")
        await eventually(lambda: ("Updated", "MeterValuePeriodic") in kinds(csms), h.clock, 1.0, within=90)
        await h.advance(1)
        assert not any(line.startswith("Cost") for line in screen(h))  # Enabled[Cost] false
        await set_variables(csms, {("Enabled", "Cost"): "true", ("Enabled", "Tariff"): "false"})
        assert "0.40 CHF/kWh" not in screen(h)  # Enabled[Tariff] false: no tariff text
        await eventually(lambda: "Cost CHF 4.57" in screen(h), h.clock, 1.0, within=90)
        h.sim.unplug()
        await eventually(lambda: screen(h)[:2] == ["Thank you", "Total CHF 4.57"], h.clock, 0.1, within=15)


async def test_without_a_display_cost_updated_is_not_supported(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        assert csms.peer is not None
        with pytest.raises(exceptions.NotSupportedError):
            await csms.peer.call(call.CostUpdated(total_cost=1.0, transaction_id="t-1"), suppress=False)
