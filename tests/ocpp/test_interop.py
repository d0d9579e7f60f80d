"""The whole controller against an independent OCPP implementation: the strict ocpp-rpc CSMS
(tools/interop/csms.js), which validates every message both ways against the 1.6 schemas, date-time
formats included. Skipped when node or the npm packages are missing (`make interop-setup`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v16.adapter import OcppAdapter
from tests.conftest import Harness as AppHarness
from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCallError, InteropCsms, run_interop_csms
from tests.ocpp.conftest import eventually

CP = "CP_IOP"


@pytest.fixture
async def interop_csms() -> AsyncIterator[InteropCsms]:
    async with run_interop_csms("--block", "BLOCKED") as csms:
        yield csms


def section(csms: InteropCsms, **extra: Any) -> dict[str, Any]:
    return {
        "url": csms.url,
        "charge_point_id": CP,
        "reconnect_min_s": 1.0,
        "ping_interval_s": 0,
        "response_timeout_s": 5.0,
        **extra,
    }


async def online(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter._online.is_set(), h.clock, 0.1, within=15)


async def drained(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter.outbox.depth() == 0, h.clock, 0.1, within=15)


def clean(csms: InteropCsms) -> None:
    assert csms.validation_failures == []
    assert csms.call_errors_sent == []


async def test_session_passes_strict_validation(
    make_harness: HarnessFactory, interop_csms: InteropCsms
) -> None:
    csms = interop_csms
    measurands = (
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Frequency,Current.Offered,"
        "Temperature"
    )
    h = await make_harness(
        ocpp=section(
            csms,
            configuration={
                "MeterValueSampleInterval": 30,
                "MeterValuesSampledData": measurands,
                "ClockAlignedDataInterval": 60,
                "StopTxnSampledData": measurands,
            },
        )
    )
    await online(h)
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe("T1")
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2, within=15)
    await h.advance(125)
    h.sim.unplug()
    await h.advance(2)
    await csms.wait_for("StopTransaction")
    h.sim.swipe("BLOCKED")
    await csms.wait_for("Authorize", lambda p: p["idTag"] == "BLOCKED")
    await drained(h)
    sampled = [
        v for _, p in csms.calls("MeterValues", cp=CP) for m in p["meterValue"] for v in m["sampledValue"]
    ]
    assert {v["measurand"] for v in sampled} == set(measurands.split(","))
    actions = [a for a, _ in csms.calls(cp=CP)]
    for action in (
        "BootNotification",
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ):
        assert action in actions
    clean(csms)


async def test_csms_initiated_calls_pass_strict_validation(
    make_harness: HarnessFactory, interop_csms: InteropCsms
) -> None:
    csms = interop_csms
    h = await make_harness(
        ocpp=section(csms, firmware={"install_command": "true"}, diagnostics={"journal_units": []}),
        connectors=[{"id": 1}, {"id": 2}],
    )
    await online(h)
    expiry = rfc3339(h.clock.now() + timedelta(minutes=10))
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("GetConfiguration", {}, {}),
        ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}, {"unknownKey": ["Nope"]}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "20"}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": "SoC"}, {"status": "Rejected"}),
        ("ChangeConfiguration", {"key": "Nope", "value": "1"}, {"status": "NotSupported"}),
        (
            "SendLocalList",
            {
                "listVersion": 2,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "L1", "idTagInfo": {"status": "Accepted"}}],
            },
            {"status": "Accepted"},
        ),
        ("GetLocalListVersion", {}, {"listVersion": 2}),
        ("ClearCache", {}, {"status": "Accepted"}),
        ("DataTransfer", {"vendorId": "nobody"}, {"status": "UnknownVendorId"}),
        (
            "ReserveNow",
            {"connectorId": 2, "expiryDate": expiry, "idTag": "R", "reservationId": 4},
            {"status": "Accepted"},
        ),
        ("CancelReservation", {"reservationId": 4}, {"status": "Accepted"}),
        ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ChangeAvailability", {"connectorId": 2, "type": "Operative"}, {"status": "Accepted"}),
        ("RemoteStartTransaction", {"idTag": "T1", "connectorId": 0}, {"status": "Rejected"}),
        ("RemoteStartTransaction", {"idTag": "T1", "connectorId": 1}, {"status": "Accepted"}),
        ("UnlockConnector", {"connectorId": 2}, {}),
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 600}, {}),
        (
            "SetChargingProfile",
            {
                "connectorId": 2,
                "csChargingProfiles": {
                    "chargingProfileId": 5,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
                    },
                },
            },
            {"status": "Accepted"},
        ),
        ("ClearChargingProfile", {"id": 5}, {"status": "Accepted"}),
        # Nothing listens on port 9: the download and the upload fail and say so.
        (
            "UpdateFirmware",
            {"location": "http://127.0.0.1:9/fw.bin", "retrieveDate": rfc3339(h.clock.now())},
            {},
        ),
        ("GetDiagnostics", {"location": "http://127.0.0.1:9/diag/"}, {}),
    ]
    for message in (
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    ):
        calls.append(("TriggerMessage", {"requestedMessage": message}, {"status": "Accepted"}))
    for method, params, expected in calls:
        result = await csms.call(CP, method, params)
        for key, value in expected.items():
            assert result[key] == value, (method, params, result)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2, within=15)
    start = await csms.wait_for("StartTransaction")
    assert start["idTag"] == "T1"
    await drained(h)
    await eventually(
        lambda: h.app.ocpp is not None and h.app.ocpp.active_transaction_id(1) is not None, h.clock, 0.1
    )
    assert h.app.ocpp is not None
    tx = h.app.ocpp.active_transaction_id(1)
    assert (await csms.call(CP, "RemoteStopTransaction", {"transactionId": tx}))["status"] == "Accepted"
    await eventually(  # the stop is reported once the final meter reading settled (simulated time)
        lambda: any(p["reason"] == "Remote" for _, p in csms.calls("StopTransaction")),
        h.clock,
        0.2,
        within=15,
    )
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "DownloadFailed")
    await csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "UploadFailed")
    assert (await csms.call(CP, "Reset", {"type": "Soft"}))["status"] == "Accepted"
    await eventually(lambda: h.app._exit is not None and h.app._exit.done(), h.clock, 0.2, within=15)
    clean(csms)


async def test_basic_auth_against_ocpp_rpc(make_harness: HarnessFactory) -> None:
    async with run_interop_csms("--password", f"{CP}=interop-secret-1") as csms:
        h = await make_harness(ocpp=section(csms, security_profile=1, authorization_key="interop-secret-1",
                                                 allow_insecure_basic_auth=True))
        await online(h)
        clean(csms)


async def test_switched_off_profiles_answer_not_supported_to_ocpp_rpc(
    make_harness: HarnessFactory, interop_csms: InteropCsms
) -> None:
    """The 1.6 error code for a known action that is not supported, as an independent CSMS reads it."""
    csms = interop_csms
    h = await make_harness(ocpp=section(csms, configuration={"SupportedFeatureProfiles": "Core"}))
    await online(h)
    expiry = rfc3339(h.clock.now() + timedelta(minutes=10))
    for method, params in (
        ("ReserveNow", {"connectorId": 1, "expiryDate": expiry, "idTag": "R", "reservationId": 4}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ("GetLocalListVersion", {}),
    ):
        with pytest.raises(InteropCallError, match="NotSupported"):
            await csms.call(CP, method, params)
    profiles = await csms.call(CP, "GetConfiguration", {"key": ["SupportedFeatureProfiles"]})
    assert profiles["configurationKey"][0]["value"] == "Core"
    assert csms.validation_failures == []
