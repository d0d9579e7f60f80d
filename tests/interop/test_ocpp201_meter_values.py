"""OCPP 2.0.1 clock-aligned meter values and meter triggers of the real charger (fake HAL, simulated time)
against the strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both ways): MeterValues while
idle (SendDuringIdle), TransactionEvent Updated MeterValueClock, the AlignedDataCtrlr.TxEndedMeasurands in
Ended, and TriggerMessage MeterValues / TransactionEvent. Skipped without node / `make interop-setup`."""

from __future__ import annotations

from typing import Any

from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP-IOP-201MV"
MEASURANDS = ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Frequency,"
              "Current.Offered")


def events(csms: InteropCsms) -> list[dict[str, Any]]:
    return [p for _, p in csms.calls("TransactionEvent", cp=CP)]


def meter_values(csms: InteropCsms) -> list[dict[str, Any]]:
    return [p for _, p in csms.calls("MeterValues", cp=CP)]


async def test_aligned_and_triggered_meter_values_are_valid(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(station={"free_charging": True}, ocpp={
            "url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
            "reconnect_min_s": 1.0, "device_model": {
                "SampledDataCtrlr.TxUpdatedInterval": 0, "AlignedDataCtrlr.Interval": 60,
                "AlignedDataCtrlr.Measurands": MEASURANDS, "AlignedDataCtrlr.TxEndedInterval": 60,
                "AlignedDataCtrlr.TxEndedMeasurands": MEASURANDS, "AlignedDataCtrlr.SendDuringIdle": "true"}})
        await drive(h, lambda: len(meter_values(csms)) >= 1)
        idle = meter_values(csms)[0]
        assert idle["evseId"] == 1
        assert {s["context"] for s in idle["meterValue"][0]["sampledValue"]} == {"Sample.Clock"}
        answer = await csms.call(CP, "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}})
        assert answer["status"] == "Accepted"
        await drive(h, lambda: any(s["context"] == "Trigger" for mv in meter_values(csms)
                                   for s in mv["meterValue"][0]["sampledValue"]))

        h.sim.plug()
        await drive(h, lambda: any(e["triggerReason"] == "MeterValueClock" for e in events(csms)))
        answer = await csms.call(CP, "TriggerMessage", {"requestedMessage": "TransactionEvent"})
        assert answer["status"] == "Accepted"
        await drive(h, lambda: any(e["triggerReason"] == "Trigger" for e in events(csms)))
        triggered = next(e for e in events(csms) if e["triggerReason"] == "Trigger")
        assert "chargingState" in triggered["transactionInfo"]
        h.sim.unplug()
        await drive(h, lambda: events(csms)[-1]["eventType"] == "Ended")
        contexts = {s["context"] for mv in events(csms)[-1]["meterValue"] for s in mv["sampledValue"]}
        assert contexts == {"Transaction.Begin", "Sample.Clock", "Transaction.End"}
        clean(csms)
