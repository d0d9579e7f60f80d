"""OCPP 2.0.1 TariffAndCost of the real charger (Application on the fake HAL and display, simulated time)
against the strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both ways, frames sent exactly
as written): a CostUpdated whose customData keys keep their back-end spelling (`atPowerkW`, which the
`ocpp` library on the station rewrites to `at_powerkw`) is shown and its triggers send TransactionEvent
Updated events that pass the 2.0.1 schemas. Skipped without node / `make interop-setup`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from firmware.core.authorization import AuthResult
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.tariff_cost import COST_VENDOR
from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP-IOP-201COST"


class Tokens:
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        return AuthResult(True, source="test")


def events(csms: InteropCsms) -> list[dict[str, Any]]:
    return [p for _, p in csms.calls("TransactionEvent", cp=CP)]


async def test_cost_updated_and_its_triggers_pass_strict_validation(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(ocpp={"url": csms.url, "charge_point_id": CP, "version": "2.0.1",
                                     "ping_interval_s": 0, "reconnect_min_s": 1.0},
                               connectors=[{"id": 1, "hal": {"display": {"driver": "fake"}}}],
                               display={"currency": "EUR"})
        h.station.set_authorizer(Tokens(), auto_start=False)
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 1)
        h.sim.plug()
        h.sim.swipe("CARD-IOP")
        await drive(h, lambda: any(e["transactionInfo"].get("chargingState") == "Charging"
                                   for e in events(csms)))
        tx_id = events(csms)[0]["transactionInfo"]["transactionId"]
        answer = await csms.call(CP, "CostUpdated", {
            "totalCost": 1.5, "transactionId": tx_id,
            "customData": {"vendorId": COST_VENDOR, "triggerMeterValue": {
                "atTime": rfc3339(h.clock.now() + timedelta(seconds=30)), "atPowerkW": 5.0}}})
        assert answer == {}
        assert "Cost EUR 1.50" in h.station.snapshot()["connectors"][0]["display"]["lines"]
        await drive(h, lambda: any(e["triggerReason"] == "Trigger" for e in events(csms)), within=40)
        h.sim.pause()  # the power falls through 5 kW
        await drive(h, lambda: sum(e["triggerReason"] == "Trigger" for e in events(csms)) == 2)
        for event in (e for e in events(csms) if e["triggerReason"] == "Trigger"):
            assert {s["context"] for s in event["meterValue"][0]["sampledValue"]} == {"Other"}
        clean(csms)
