"""The real 2.0.1 charger (Application on the fake HAL, `[ocpp] version = "2.0.1"`) against the strict
ocpp-rpc CSMS (tools/interop/csms.js, schema validation both ways): TriggerMessage for the station's own
messages, SetNetworkProfile. The charger runs on simulated time; the network and the CSMS run in real
time."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness, HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP_201_MGMT"


async def charger(make_harness: HarnessFactory, csms: InteropCsms, **ocpp: Any) -> Harness:
    section = {"url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
               "reconnect_min_s": 1.0, "response_timeout_s": 5.0, **ocpp}
    harness: Harness = await make_harness(connectors=[{"id": 1}, {"id": 2}], ocpp=section)
    return harness


async def test_trigger_message(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 2)
        answer = await csms.call(CP, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                        "evse": {"id": 2, "connectorId": 1}})
        assert answer == {"status": "Accepted"}
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 3)
        assert csms.calls("StatusNotification", cp=CP)[-1][1]["evseId"] == 2
        heartbeat = await csms.call(CP, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert heartbeat == {"status": "Accepted"}
        await drive(h, lambda: bool(csms.calls("Heartbeat", cp=CP)))
        rejected = await csms.call(CP, "TriggerMessage", {"requestedMessage": "BootNotification"})
        assert rejected == {"status": "Rejected"}
        missing = await csms.call(CP, "TriggerMessage", {"requestedMessage": "StatusNotification"})
        assert missing == {"status": "Rejected", "statusInfo": {"reasonCode": "MissingParam"}}
        unbuilt = await csms.call(CP, "TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
        assert unbuilt == {"status": "NotImplemented"}
        clean(csms)


async def test_set_network_profile(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 2)
        profile = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "ws://backup.example/ocpp",
                   "messageTimeout": 30, "securityProfile": 0, "ocppInterface": "Wired0"}
        stored = await csms.call(CP, "SetNetworkProfile", {"configurationSlot": 2, "connectionData": profile})
        assert stored == {"status": "Accepted"}
        refused = await csms.call(CP, "SetNetworkProfile",
                                  {"configurationSlot": 1, "connectionData": profile})
        assert refused["status"] == "Rejected" and refused["statusInfo"]["reasonCode"] == "InvalidConfSlot"
        order = await csms.call(CP, "SetVariables", {"setVariableData": [{
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkConfigurationPriority"},
            "attributeValue": "2,1"}]})
        assert order["setVariableResult"][0]["attributeStatus"] == "RebootRequired"
        clean(csms)
