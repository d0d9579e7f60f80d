"""OCPP 2.0.1 provisioning over a real websocket against a CSMS built on the `ocpp` library's v201 server
side (schema validation both ways): boot, heartbeat, Get/SetVariables with every result code, the size
limits as CALLERRORs, and a FullInventory report checked the way TC_B_53 checks it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError, OccurrenceConstraintViolationError
from ocpp.v201 import call
from websockets.asyncio.client import connect

from firmware.ocpp.v201.charge_point import SUBPROTOCOL, ChargePoint201
from firmware.ocpp.v201.provisioning import Provisioning
from tests.ocpp201 import dm_fixtures
from tests.ocpp201.csms201 import NOW, Csms, running_csms
from tests.ocpp201.test_device_model_spec import tc_b_53_problems


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[tuple[Csms, ChargePoint201]]:
    limits = {"DeviceDataCtrlr.ItemsPerMessage[GetReport]": 20,
              "DeviceDataCtrlr.ItemsPerMessage[GetVariables]": 5,
              "DeviceDataCtrlr.BytesPerMessage[SetVariables]": 1000}
    model = dm_fixtures.model(tmp_path, 2, device_model=limits)
    async with running_csms() as csms, connect(f"{csms.url}/CP-1", subprotocols=[SUBPROTOCOL]) as ws:
        station = ChargePoint201("CP-1", ws, dm_fixtures.framing(tmp_path),
                                 Provisioning(model, lambda: NOW), "chargepi", "chargepi-ac",
                                 "SN-1", "1.0", response_timeout=5)
        reader = asyncio.create_task(station.start())
        await asyncio.wait_for(csms.connected.wait(), 5)
        yield csms, station
        reader.cancel()


def get(component: dict[str, Any], name: str, instance: str | None = None,
        attribute: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"component": component, "variable": {"name": name}}
    if instance:
        item["variable"]["instance"] = instance
    if attribute:
        item["attribute_type"] = attribute
    return item


async def test_boot_and_heartbeat(linked: tuple[Csms, ChargePoint201]) -> None:
    csms, station = linked
    answer = await station.boot("PowerUp")
    assert answer.status == "Accepted"
    assert csms.boots == [{"charging_station": {"vendor_name": "chargepi", "model": "chargepi-ac",
                                                "serial_number": "SN-1", "firmware_version": "1.0"},
                           "reason": "PowerUp"}]
    assert await station.heartbeat() == NOW
    assert csms.peer is not None
    result = await csms.peer.call(call.GetVariables(get_variable_data=[
        get({"name": "OCPPCommCtrlr"}, "HeartbeatInterval")]), suppress=False)
    assert result.get_variable_result[0]["attribute_value"] == "120"  # from the boot answer


async def test_get_and_set_variables_with_every_result_code(linked: tuple[Csms, ChargePoint201]) -> None:
    csms, _ = linked
    assert csms.peer is not None
    comm = {"name": "OCPPCommCtrlr"}
    result = await csms.peer.call(call.GetVariables(get_variable_data=[
        get(comm, "MessageAttempts", "TransactionEvent"),
        get({"name": "Nope"}, "Enabled"),
        get(comm, "Nope"),
        get(comm, "HeartbeatInterval", attribute="MaxSet"),
        get({"name": "SecurityCtrlr"}, "BasicAuthPassword"),
    ]), suppress=False)
    assert [(r["attribute_status"], r.get("attribute_value")) for r in result.get_variable_result] == [
        ("Accepted", "5"), ("UnknownComponent", None), ("UnknownVariable", None),
        ("NotSupportedAttributeType", None), ("Rejected", None)]
    assert result.get_variable_result[0]["attribute_type"] == "Actual"  # B06.FR.11
    evse = await csms.peer.call(call.GetVariables(get_variable_data=[
        get({"name": "EVSE", "evse": {"id": 2}}, "Power"),
        get({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "ConnectorType")]), suppress=False)
    assert [r["attribute_value"] for r in evse.get_variable_result] == ["0", "sType2"]

    def set_(component: dict[str, Any], name: str, value: str, instance: str | None = None) -> dict[str, Any]:
        return {**get(component, name, instance), "attribute_value": value}

    result = await csms.peer.call(call.SetVariables(set_variable_data=[
        set_(comm, "HeartbeatInterval", "90"),
        set_(comm, "HeartbeatInterval", "-1"),
        set_(comm, "FileTransferProtocols", "HTTP"),
        set_(comm, "NetworkConfigurationPriority", "2,1"),
        set_({"name": "Nope"}, "Enabled", "true"),
        set_(comm, "Nope", "1"),
    ]), suppress=False)
    statuses = [r["attribute_status"] for r in result.set_variable_result]
    assert statuses == ["Accepted", "Rejected", "Rejected", "RebootRequired", "UnknownComponent",
                        "UnknownVariable"]
    assert result.set_variable_result[2]["attribute_status_info"]["reason_code"] == "ReadOnly"


async def test_size_limits_are_callerrors(linked: tuple[Csms, ChargePoint201]) -> None:
    csms, _ = linked
    assert csms.peer is not None
    many = [get({"name": "OCPPCommCtrlr"}, "HeartbeatInterval")] * 6  # ItemsPerMessage[GetVariables] = 5
    with pytest.raises(OccurrenceConstraintViolationError):
        await csms.peer.call(call.GetVariables(get_variable_data=many), suppress=False)
    big = [{**get({"name": "SecurityCtrlr"}, "OrganizationName"), "attribute_value": "x" * 60}] * 20
    with pytest.raises(FormatViolationError):  # BytesPerMessage[SetVariables] = 1000
        await csms.peer.call(call.SetVariables(set_variable_data=big), suppress=False)


async def test_full_inventory_over_the_wire(linked: tuple[Csms, ChargePoint201]) -> None:
    csms, _ = linked
    assert csms.peer is not None
    request = call.GetBaseReport(request_id=7, report_base="FullInventory")
    answer = await csms.peer.call(request, suppress=False)
    assert answer.status == "Accepted"
    await asyncio.wait_for(csms.report_done(7).wait(), 10)
    parts = csms.reports[7]
    assert [p["seq_no"] for p in parts] == list(range(len(parts))) and len(parts) > 1
    assert [p["tbc"] for p in parts] == [True] * (len(parts) - 1) + [False]
    assert all(len(p["report_data"]) <= 20 for p in parts)
    entries = [e for p in parts for e in p["report_data"]]
    assert tc_b_53_problems(entries, 2) == []
    assert "value" not in json.dumps([e for e in entries if e["variable"]["name"] == "BasicAuthPassword"])

    empty = await csms.peer.call(call.GetReport(request_id=8, component_criteria=["Problem"]), suppress=False)
    assert empty.status == "EmptyResultSet"
    some = await csms.peer.call(call.GetReport(request_id=9, component_variable=[
        {"component": {"name": "EVSE"}, "variable": {"name": "Power"}}]), suppress=False)
    assert some.status == "Accepted"
    await asyncio.wait_for(csms.report_done(9).wait(), 10)
    powers = [e for p in csms.reports[9] for e in p["report_data"]]
    assert [(e["component"]["evse"]["id"], e["variable_characteristics"]["max_limit"]) for e in powers] == [
        (1, 22080), (2, 22080)]
    assert 8 not in csms.reports
