"""OCPP 2.0.1 provisioning against an independent implementation: the strict ocpp-rpc CSMS
(tools/interop/csms.js) on subprotocol ocpp2.0.1 validates every frame both ways against the 2.0.1 schemas
(date-time formats included). Skipped without node / `make interop-setup`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.client import connect

from firmware.ocpp.v201.charge_point import SUBPROTOCOL, ChargePoint201
from firmware.ocpp.v201.provisioning import Provisioning
from tests.interop.harness import InteropCallError, run_interop_csms
from tests.ocpp201 import dm_fixtures
from tests.ocpp201.test_device_model_spec import tc_b_53_problems

CP = "CP_201"


def _snake(entry: object) -> object:
    """camelCase wire keys → the snake_case the TC_B_53 check reads."""
    if isinstance(entry, dict):
        return {"".join("_" + c.lower() if c.isupper() else c for c in k): _snake(v)
                for k, v in entry.items()}
    if isinstance(entry, list):
        return [_snake(v) for v in entry]
    return entry


async def test_boot_reports_and_variables_pass_strict_validation(tmp_path: Path) -> None:
    limits = {"DeviceDataCtrlr.ItemsPerMessage[GetReport]": 25}
    model = dm_fixtures.model(tmp_path, 2, device_model=limits)
    async with run_interop_csms("--heartbeat-interval", "200") as csms, \
            connect(f"{csms.url}/{CP}", subprotocols=[SUBPROTOCOL]) as ws:
        station = ChargePoint201(CP, ws, dm_fixtures.framing(tmp_path),
                                 Provisioning(model, lambda: "2030-06-01T12:00:00.000Z"), "chargepi",
                                 "chargepi-ac", "SN-1", "1.0", response_timeout=5)
        reader = asyncio.create_task(station.start())
        try:
            connected = await csms.wait_event(lambda m: m["event"] == "connect")
            assert connected["protocol"] == "ocpp2.0.1"
            assert (await station.boot("PowerUp")).status == "Accepted"
            await station.heartbeat()
            assert model.integer("OCPPCommCtrlr.HeartbeatInterval") == 200

            answer = await csms.call(CP, "GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"})
            assert answer == {"status": "Accepted"}
            await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 3 and not p.get("tbc"))
            parts = [p for action, p in csms.calls("NotifyReport") if p["requestId"] == 3]
            assert [p["seqNo"] for p in parts] == list(range(len(parts))) and len(parts) > 1
            entries = [_snake(e) for p in parts for e in p["reportData"]]
            assert tc_b_53_problems(entries, 2) == []  # type: ignore[arg-type]

            got = await csms.call(CP, "GetVariables", {"getVariableData": [
                {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}},
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
                {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
                 "variable": {"name": "ConnectorType"}}]})
            statuses = [r["attributeStatus"] for r in got["getVariableResult"]]
            assert statuses == ["Accepted", "Rejected", "Accepted"]
            done = await csms.call(CP, "SetVariables", {"setVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
                 "attributeValue": "abc"},
                {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedMeasurands"},
                 "attributeValue": "Energy.Active.Import.Register,Voltage"}]})
            assert [r["attributeStatus"] for r in done["setVariableResult"]] == ["Rejected", "Accepted"]
            report = await csms.call(CP, "GetReport", {"requestId": 4, "componentCriteria": ["Problem"]})
            assert report == {"status": "EmptyResultSet"}
            try:
                await csms.call(CP, "GetReport", {"requestId": 5, "componentVariable": [
                    {"component": {"name": "EVSE"}}] * 101})
                raise AssertionError("over ItemsPerMessage[GetReport] must be refused")
            except InteropCallError as exc:
                assert "OccurrenceConstraintViolation" in str(exc)
            assert csms.validation_failures == []
            assert csms.call_errors_sent == []
        finally:
            reader.cancel()
