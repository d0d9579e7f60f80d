"""Clock-aligned meter values (J01) and the meter triggers (F06.FR.06/07) of a whole 2.0.1 charger (fake
HAL, simulated time) against the v201 test CSMS: TransactionEvent Updated MeterValueClock in a transaction,
AlignedDataCtrlr.TxEndedMeasurands in Ended, MeterValues outside one only with SendDuringIdle, and the
triggered MeterValues / TransactionEvent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.v201 import call

from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import events, kinds, states


async def charger(make_harness: HarnessFactory, csms: Csms, **model: Any) -> Harness:
    ocpp = section(csms.url)
    ocpp["device_model"] = {"SampledDataCtrlr.TxUpdatedInterval": 0, **model}
    h: Harness = await make_harness(ocpp=ocpp, station={"free_charging": True})
    await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
    return h


def contexts(meter_values: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["context"], s["measurand"]) for mv in meter_values for s in mv["sampled_value"]]


def on_boundary(meter_value: dict[str, Any], interval_s: int) -> bool:
    when = datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00"))
    return round(when.timestamp(), 1) % interval_s == 0


async def test_clock_aligned_values_in_a_transaction_and_in_ended(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, **{
            "AlignedDataCtrlr.Interval": 60, "AlignedDataCtrlr.Measurands": "Energy.Active.Import.Register",
            "AlignedDataCtrlr.TxEndedInterval": 120, "AlignedDataCtrlr.TxEndedMeasurands": "Voltage",
            "AlignedDataCtrlr.SendDuringIdle": "true"})
        h.sim.plug()
        await eventually(lambda: "Charging" in states(csms), h.clock, 0.1, within=15)
        await eventually(lambda: kinds(csms).count(("Updated", "MeterValueClock")) >= 3, h.clock, 1.0,
                         within=15)
        clock = [e for e in events(csms) if e["trigger_reason"] == "MeterValueClock"]
        for event in clock:  # J01: in a transaction the aligned values go in TransactionEvent
            assert contexts(event["meter_value"]) == [("Sample.Clock", "Energy.Active.Import.Register")]
            assert on_boundary(event["meter_value"][0], 60)
        assert csms.of("MeterValues") == []  # not as MeterValues while the transaction runs
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        aligned = [mv for mv in events(csms)[-1]["meter_value"]
                   if mv["sampled_value"][0]["context"] == "Sample.Clock"]
        assert aligned and all(on_boundary(mv, 120) for mv in aligned)  # E06.FR.11
        assert {s["measurand"] for mv in aligned for s in mv["sampled_value"]} == {"Voltage"}


async def test_meter_values_outside_a_transaction_only_when_send_during_idle(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, **{"AlignedDataCtrlr.Interval": 30})
        await h.advance(95)
        assert csms.of("MeterValues") == []  # SendDuringIdle false
        assert csms.peer is not None
        answer = await csms.peer.call(call.SetVariables(set_variable_data=[
            {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "SendDuringIdle"},
             "attribute_value": "true"}]), suppress=False)
        assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
        await eventually(lambda: len(csms.of("MeterValues")) >= 2, h.clock, 1.0, within=15)
        for mv in csms.of("MeterValues"):
            assert mv["evse_id"] == 1
            assert contexts(mv["meter_value"]) == [("Sample.Clock", "Energy.Active.Import.Register")]
            assert on_boundary(mv["meter_value"][0], 30)
        assert events(csms) == []


async def test_triggered_meter_values_and_transaction_event(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, **{"AlignedDataCtrlr.Measurands": "Voltage,Frequency"})
        assert csms.peer is not None
        peer = csms.peer

        async def trigger(message: str, **evse: int) -> str:
            answer = await peer.call(call.TriggerMessage(requested_message=message, evse=evse or None),
                                     suppress=False)
            return str(answer.status)

        await h.advance(5)
        assert await trigger("TransactionEvent") == "Rejected"  # no transaction to report
        assert await trigger("MeterValues", id=0) == "Rejected"  # no main meter of its own
        assert await trigger("MeterValues", id=1) == "Accepted"
        await eventually(lambda: len(csms.of("MeterValues")) == 1, h.clock, 0.1, within=15)
        triggered = csms.of("MeterValues")[0]
        assert triggered["evse_id"] == 1  # F06.FR.06: the AlignedDataCtrlr.Measurands, context Trigger
        assert {c for c, _ in contexts(triggered["meter_value"])} == {"Trigger"}
        assert {m for _, m in contexts(triggered["meter_value"])} == {"Voltage", "Frequency"}

        h.sim.plug()
        await eventually(lambda: "Charging" in states(csms), h.clock, 0.1, within=15)
        assert await trigger("TransactionEvent", id=1) == "Accepted"
        await eventually(lambda: ("Updated", "Trigger") in kinds(csms), h.clock, 0.1, within=15)
        event = next(e for e in events(csms) if e["trigger_reason"] == "Trigger")
        # F06.FR.07: the chargingState and the TxUpdatedMeasurands
        assert event["transaction_info"]["charging_state"] == "Charging"
        assert {m for _, m in contexts(event["meter_value"])} == {"Energy.Active.Import.Register",
                                                                   "Power.Active.Import"}
