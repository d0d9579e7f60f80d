"""OCPP 2.0.1 transactions of the real charger (Application on the fake HAL, simulated time) against the
strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both ways): TransactionEvent Started /
Updated / Ended of a session with a token and periodic meter values, one queued while offline, and
GetTransactionStatus. Skipped without node / `make interop-setup`."""

from __future__ import annotations

from typing import Any

from firmware.core.authorization import AuthResult
from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive
from tests.ocpp201.test_transactions_e2e import adapter

CP = "CP-IOP-201TX"


class Tokens:
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        return AuthResult(True, source="test")


def events(csms: InteropCsms) -> list[dict[str, Any]]:
    return [p for _, p in csms.calls("TransactionEvent", cp=CP)]


async def test_transaction_events_pass_strict_validation(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(ocpp={
            "url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
            "reconnect_min_s": 1.0, "device_model": {"SampledDataCtrlr.TxUpdatedInterval": 30,
                                                     "SampledDataCtrlr.TxEndedInterval": 30,
                                                     "SampledDataCtrlr.TxUpdatedMeasurands":
                                                         "Energy.Active.Import.Register,Power.Active.Import,"
                                                         "Current.Import,Voltage,Current.Offered"}})
        h.station.set_authorizer(Tokens(), auto_start=False)
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 1)
        h.sim.plug()
        h.sim.swipe("CARD-IOP")
        await drive(h, lambda: any(e["triggerReason"] == "MeterValuePeriodic" for e in events(csms)))
        started = events(csms)[0]
        assert started["eventType"] == "Started" and started["idToken"]["idToken"] == "CARD-IOP"
        tx_id = started["transactionInfo"]["transactionId"]
        status = await csms.call(CP, "GetTransactionStatus", {"transactionId": tx_id})
        assert status["ongoingIndicator"] is True

        await adapter(h).link.disable()
        h.sim.swipe("CARD-IOP")
        await h.advance(5)
        adapter(h).link.enable()
        await drive(h, lambda: events(csms)[-1]["eventType"] == "Ended")
        ended = events(csms)[-1]
        assert ended["offline"] is True and ended["transactionInfo"]["stoppedReason"] == "Local"
        assert [e["seqNo"] for e in events(csms)] == list(range(len(events(csms))))
        assert len(ended["meterValue"]) >= 3  # Transaction.Begin, Sample.Periodic..., Transaction.End
        status = await csms.call(CP, "GetTransactionStatus", {"transactionId": tx_id})
        assert status == {"ongoingIndicator": False, "messagesInQueue": False}
        clean(csms)
