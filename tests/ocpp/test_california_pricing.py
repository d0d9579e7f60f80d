"""OCPP 1.6 California Pricing end to end: the whole controller with the simulator's driver display
against a real websocket CSMS. What the driver sees is read from `chargepi status` (the status document)
and the simulated display; what the CSMS sees from its received frames."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ocpp.v16 import call

from firmware.ocpp.common.timefmt import rfc3339
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application import ocpp_section, online
from tests.ocpp.test_signed_meter_values import ocmf_of, signed_values

VENDOR = "org.openchargealliance.costmsg"
DISPLAY = {"id": 1, "hal": {"display": {"driver": "fake"}}}


def screen(h: Harness) -> list[str]:
    lines: list[str] = h.station.snapshot()["connectors"][0]["display"]["lines"]
    return lines


async def transfer(csms: TestCsms, message: str, data: dict[str, Any]) -> str:
    assert csms.cp is not None
    request = call.DataTransfer(vendor_id=VENDOR, message_id=message, data=json.dumps(data))
    answer = await csms.cp.call(request, suppress=False)
    return str(answer.status)


async def configure(csms: TestCsms, key: str, value: str) -> None:
    assert csms.cp is not None
    answer = await csms.cp.call(call.ChangeConfiguration(key=key, value=value), suppress=False)
    assert answer.status == "Accepted", (key, answer.status)


async def start_session(h: Harness, csms: TestCsms, tag: str) -> int:
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe(tag)
    await eventually(lambda: csms.calls("StartTransaction") != [], h.clock, 0.2)

    def transaction() -> Any:
        return h.station.snapshot()["connectors"][0]["transaction"]["id"]

    await eventually(lambda: transaction() is not None, h.clock, 0.1)
    transaction_id: int = transaction()
    return transaction_id


def other_meter_values(csms: TestCsms) -> int:
    return sum(1 for m in csms.calls("MeterValues") for mv in m["meterValue"]
               if any(s.get("context") == "Other" for s in mv["sampledValue"]))


async def test_prices_and_costs_the_driver_sees(make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port), connectors=[DISPLAY], display={"language": "de",
                                                                                     "currency": "EUR"})
    await online(h)
    await configure(csms, "DefaultPrice", json.dumps({"priceText": "0.40 EUR/kWh",
                                                      "priceTextOffline": "Offline 0.45 EUR/kWh"}))
    await configure(csms, "DefaultPriceText,de", json.dumps({"priceText": "0,40 EUR/kWh"}))
    await h.advance(1)
    assert screen(h)[:2] == ["Zum Laden einstecken", "0,40 EUR/kWh"]

    assert await transfer(csms, "SetUserPrice", {"priceText": "no token"}) == "Rejected"
    assert await transfer(csms, "SetUserPrice", {
        "idToken": "CARD-7", "priceText": "0.30 EUR/kWh for you",
        "priceTextExtra": [{"format": "UTF8", "language": "de", "content": "0,30 EUR/kWh für Sie"}],
    }) == "Accepted"
    assert await transfer(csms, "RunningCost", {"transactionId": 999, "cost": 1.0}) == "Rejected"
    assert await transfer(csms, "RunningCost", {"cost": 1.0}) == "Rejected"

    transaction_id = await start_session(h, csms, "CARD-7")
    await h.advance(60)
    assert screen(h)[0] == "Ladevorgang läuft" and screen(h)[3] == "0,30 EUR/kWh für Sie"
    at_time = rfc3339(h.clock.now() + timedelta(seconds=120))
    assert await transfer(csms, "RunningCost", {
        "transactionId": transaction_id, "timestamp": rfc3339(h.clock.now()), "meterValue": 1000,
        "cost": 0.456,
        "state": "Charging", "triggerMeterValue": {"atTime": at_time, "atEnergykWh": 1.0, "atPowerkW": 5.0,
                                                   "atCPStatus": ["SuspendedEV"]}}) == "Accepted"
    assert screen(h)[2] == "Kosten EUR 0.46"  # NumberOfDecimalsForCostValues = 2
    before = other_meter_values(csms)
    await h.advance(200)  # 22 kW for 200 s: past 1 kWh, and past atTime
    await eventually(lambda: other_meter_values(csms) == before + 2, h.clock, 0.1)
    h.sim.pause()  # the car stops drawing: power falls through 5 kW, status SuspendedEV
    await eventually(lambda: other_meter_values(csms) == before + 4, h.clock, 0.2)

    h.sim.unplug()
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.1)
    assert await transfer(csms, "RunningCost", {"transactionId": transaction_id, "cost": 2.0}) == "Rejected"
    assert await transfer(csms, "FinalCost", {"transactionId": transaction_id, "cost": 3.314,
                                              "priceText": "3.31 EUR, thank you",
                                              "qrCodeText": "https://pay.example/r/42"}) == "Accepted"
    assert screen(h)[:3] == ["Vielen Dank", "Gesamt EUR 3.31", "3.31 EUR, thank you"]
    assert h.station.snapshot()["connectors"][0]["display"]["qr_text"] == "https://pay.example/r/42"
    assert await transfer(csms, "FinalCost", {"transactionId": 4242, "cost": 1.0}) == "Rejected"

    await csms.stop()  # the CSMS is gone: the offline price is shown
    adapter = h.app.ocpp
    assert adapter is not None
    await eventually(lambda: not adapter.online, h.clock, 0.5)
    h.sim.plug()
    await eventually(lambda: "Offline" in screen(h), h.clock, 0.5)
    assert screen(h)[1] == "Offline 0.45 EUR/kWh"
    assert h.app.simulation is not None
    assert h.app.simulation.snapshot()["connectors"][0]["display"][0] == "Karte vorhalten"


async def test_start_transaction_waits_for_the_user_price(make_harness: HarnessFactory,
                                                          csms: TestCsms) -> None:
    port = await csms.start()
    signing = {"id": 1, "hal": {"display": {"driver": "fake"}, "meter": {"driver": "fake", "ocmf": True}}}
    h = await make_harness(ocpp=ocpp_section(port, configuration={"WaitForSetUserPriceTimeout": 30000}),
                           connectors=[signing])
    await online(h)
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe("CARD-8")
    await eventually(lambda: csms.calls("Authorize") != [], h.clock, 0.1)
    await h.advance(10)
    assert csms.calls("StartTransaction") == []  # waiting for the price
    price = {"idToken": "CARD-8", "priceText": "0.25 EUR/kWh"}
    assert await transfer(csms, "SetUserPrice", price) == "Accepted"
    await eventually(lambda: csms.calls("StartTransaction") != [], h.clock, 0.1)
    await eventually(lambda: signed_values([mv for m in csms.calls("MeterValues") for mv in m["meterValue"]]),
                     h.clock, 0.1)
    (begin,) = signed_values([mv for m in csms.calls("MeterValues") for mv in m["meterValue"]])
    assert '"TT":"0.25 EUR/kWh"' in ocmf_of(begin[1])  # the price the driver saw is signed by the meter
    h.sim.unplug()
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.1)


async def test_without_a_user_price_start_transaction_goes_after_the_timeout(
        make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port, configuration={"WaitForSetUserPriceTimeout": 5000}),
                           connectors=[DISPLAY])
    await online(h)
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe("CARD-9")
    await eventually(lambda: csms.calls("Authorize") != [], h.clock, 0.1)
    await h.advance(3)
    assert csms.calls("StartTransaction") == []
    await eventually(lambda: csms.calls("StartTransaction") != [], h.clock, 0.5)
    assert csms.cp is not None
    keys = await csms.cp.call(call.GetConfiguration(key=["CustomDisplayCostAndPrice",
                                                         "NumberOfDecimalsForCostValues"]), suppress=False)
    values = {k["key"]: k for k in keys.configuration_key}
    assert values["CustomDisplayCostAndPrice"] == {"key": "CustomDisplayCostAndPrice", "readonly": True,
                                                   "value": "true"}
    assert values["NumberOfDecimalsForCostValues"]["value"] == "2"
