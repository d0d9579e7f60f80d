"""End-to-end against a real websocket CSMS: boot, status, heartbeat, sessions, meter values."""

from __future__ import annotations

import re

from firmware.core.vocabulary import ConnectorState, Fault, StopReason
from tests.ocpp.conftest import Harness, eventually

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_boot_reports_identity_and_sets_clock(harness: Harness) -> None:
    await harness.start()
    boot = harness.csms.calls("BootNotification")[0]
    assert boot == {
        "chargePointVendor": "ChargePi",
        "chargePointModel": "AC22",
        "chargePointSerialNumber": "SN-42",
        "chargeBoxSerialNumber": "SN-42",
        "firmwareVersion": "1.2.3",
    }
    assert harness.csms.paths == ["/ocpp/CP1"]
    assert harness.clock.now().year == 2030  # set from BootNotification.conf currentTime
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 3)
    statuses = harness.csms.calls("StatusNotification")
    assert [s["connectorId"] for s in statuses] == [0, 1, 2]
    assert all(s["status"] == "Available" and s["errorCode"] == "NoError" for s in statuses)
    assert all(RFC3339_Z.match(s["timestamp"]) for s in statuses)
    assert harness.adapter is not None and harness.adapter.config.get("HeartbeatInterval") == "300"


async def test_heartbeat_follows_interval_and_sets_clock(harness: Harness) -> None:
    adapter = await harness.start()
    assert adapter.config.change("HeartbeatInterval", "60") == "Accepted"
    harness.clock.set_now(harness.clock.now().replace(year=2029))
    await harness.clock.advance(59)
    await eventually(lambda: True)
    assert harness.csms.calls("Heartbeat") == []
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == 1, harness.clock, 0.5)
    await eventually(lambda: harness.clock.now().year == 2030)
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == 3, harness.clock, 5)


async def test_status_changes_carry_error_codes(harness: Harness) -> None:
    await harness.start()
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 3)
    harness.station.set_status(
        2, ConnectorState.FAULTED, Fault.RCD_TRIP, "residual current monitor tripped"
    )
    harness.station.set_status(1, ConnectorState.FAULTED, Fault.RCD_TRIP, "rcd")
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 6)
    fault, _, station = harness.csms.calls("StatusNotification")[3:]
    assert fault["connectorId"] == 2 and fault["status"] == "Faulted"
    assert fault["errorCode"] == "GroundFailure" and fault["vendorErrorCode"] == "CX002"
    assert fault["info"] == "residual current monitor tripped"
    assert station["connectorId"] == 0 and station["status"] == "Faulted"
    assert station["errorCode"] == "GroundFailure"  # both connectors share the fault
    for c in (1, 2):
        harness.station.set_status(c, ConnectorState.UNAVAILABLE)
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 9)
    last = harness.csms.calls("StatusNotification")[-1]
    assert last["connectorId"] == 0 and last["status"] == "Unavailable" and last["errorCode"] == "NoError"
    harness.station.set_status(1, ConnectorState.AVAILABLE)
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 11)
    assert harness.csms.calls("StatusNotification")[-1] == {
        **last,
        "status": "Available",
        "timestamp": last["timestamp"],
    }


async def test_session_start_meter_values_and_stop(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "30")
    adapter.config.change(
        "MeterValuesSampledData",
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Frequency,Temperature",
    )
    adapter.config.change("StopTxnSampledData", "Energy.Active.Import.Register,Current.Import")
    station = harness.station
    station.temperatures[1] = 41.5
    station.meter(1)
    station.start(1, "TAG1")
    await harness.settle()
    for _ in range(3):
        station.meter(1, add_wh=125.4)
        await harness.clock.advance(30)
    station.stop_session(1, StopReason.LOCAL, "TAG1")
    await harness.settle()
    start = harness.csms.calls("StartTransaction")[0]
    assert start == {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": start["timestamp"]}
    assert RFC3339_Z.match(start["timestamp"])
    meters = harness.csms.calls("MeterValues")
    assert len(meters) == 3 and all(m["transactionId"] == 101 for m in meters)
    sampled = meters[-1]["meterValue"][0]["sampledValue"]
    by = {(s["measurand"], s.get("phase")): s for s in sampled}
    assert by[("Energy.Active.Import.Register", None)] == {
        "value": "1376.2",
        "context": "Sample.Periodic",
        "format": "Raw",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": "Wh",
    }
    assert by[("Current.Import", "L2")]["unit"] == "A"
    assert by[("Voltage", "L3-N")]["value"] == "229.5"
    assert by[("Power.Active.Import", None)]["value"] == "11040"
    assert "unit" not in by[("Frequency", None)]
    temperature = by[("Temperature", None)]
    assert (temperature["value"], temperature["unit"], temperature["location"]) == ("41.5", "Celsius", "Body")
    stop = harness.csms.calls("StopTransaction")[0]
    assert stop["transactionId"] == 101 and stop["meterStop"] == 1376 and stop["reason"] == "Local"
    assert stop["idTag"] == "TAG1"
    contexts = [v["sampledValue"][0]["context"] for v in stop["transactionData"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert contexts.count("Sample.Periodic") == 3
    order = [a for a in harness.csms.actions() if a in ("StartTransaction", "MeterValues", "StopTransaction")]
    assert order == ["StartTransaction", "MeterValues", "MeterValues", "MeterValues", "StopTransaction"]


async def test_clock_aligned_values_with_and_without_transaction(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("ClockAlignedDataInterval", "900")
    adapter.config.change("MeterValueSampleInterval", "0")
    adapter.config.change("StopTxnAlignedData", "Energy.Active.Import.Register")
    harness.station.meter(1)
    harness.station.meter(2)
    await harness.clock.advance(900)
    await eventually(lambda: len(harness.csms.calls("MeterValues")) == 2)
    values = harness.csms.calls("MeterValues")
    assert all("transactionId" not in v for v in values)
    stamp = values[0]["meterValue"][0]["timestamp"]
    assert (
        stamp.endswith(":00:00.000Z")
        or stamp.endswith(":15:00.000Z")
        or stamp.endswith(":30:00.000Z")
        or stamp.endswith(":45:00.000Z")
    )
    assert values[0]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
    harness.station.start(1, "TAG")
    await harness.settle()
    await harness.clock.advance(900)
    await eventually(lambda: len(harness.csms.calls("MeterValues")) == 4)
    tx_values = [v for v in harness.csms.calls("MeterValues") if "transactionId" in v]
    assert len(tx_values) == 1 and tx_values[0]["connectorId"] == 1
    harness.station.stop_session(1, StopReason.EV_DISCONNECTED)
    await harness.settle()
    stop = harness.csms.calls("StopTransaction")[0]
    assert "Sample.Clock" in [v["sampledValue"][0]["context"] for v in stop["transactionData"]]
    assert stop["reason"] == "EVDisconnected" and "idTag" not in stop
