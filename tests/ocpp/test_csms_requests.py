"""Every CSMS-initiated 1.6 message, sent by a real websocket CSMS, and what the charger did with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from firmware.core.vocabulary import ConnectorState, StopReason
from firmware.ocpp.common.timefmt import rfc3339
from tests.ocpp.conftest import Harness, eventually


async def ask(harness: Harness, payload: Any) -> Any:
    assert harness.csms.cp is not None
    return await harness.csms.cp.call(payload, suppress=False)


async def test_remote_start_and_stop(harness: Harness) -> None:
    adapter = await harness.start()
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="R1", connector_id=0))).status == "Rejected"
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="R1", connector_id=7))).status == "Rejected"
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
        },
    }
    answer = await ask(
        harness, call.RemoteStartTransaction(id_tag="R1", connector_id=1, charging_profile=profile)
    )
    assert answer.status == "Rejected"  # no smart charging service present
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="R1", connector_id=1))).status == "Accepted"
    await eventually(lambda: harness.station.session_of(1) is not None)
    assert harness.station.remote_starts == [("R1", 1, False)]
    await harness.settle()
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="R2", connector_id=1))).status == "Rejected"
    assert (await ask(harness, call.RemoteStopTransaction(transaction_id=999))).status == "Rejected"
    assert (await ask(harness, call.RemoteStopTransaction(transaction_id=101))).status == "Accepted"
    await harness.settle()
    assert harness.csms.calls("StopTransaction")[0]["reason"] == "Remote"
    adapter.config.change("AuthorizeRemoteTxRequests", "true")
    harness.csms.tags["BAD"] = {"status": "Blocked"}
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="BAD"))).status == "Accepted"
    await eventually(lambda: len(harness.csms.calls("Authorize")) == 1)
    await eventually(lambda: len(harness.station.remote_starts) == 2)
    assert harness.station.session_of(1) is None and harness.station.session_of(2) is None


class FakeSmartCharging:
    def __init__(self) -> None:
        self.seen: list[tuple[int | None, Any]] = []

    def accept_remote_start_profile(
        self, connector_id: int | None, cs_charging_profile: Any, wait_s: float | None = None
    ) -> bool:
        self.seen.append((connector_id, cs_charging_profile))
        return bool(cs_charging_profile["charging_profile_purpose"] == "TxProfile")

    def configuration_keys(self) -> dict[str, str]:
        return {"ChargeProfileMaxStackLevel": "8", "ChargingScheduleAllowedChargingRateUnit": "Current,Power"}


async def test_remote_start_profile_goes_to_smart_charging_when_present(harness: Harness) -> None:
    smart = FakeSmartCharging()
    harness.build(smart_charging=smart)
    await harness.start()
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        },
    }
    answer = await ask(
        harness, call.RemoteStartTransaction(id_tag="R1", connector_id=2, charging_profile=profile)
    )
    assert answer.status == "Accepted" and smart.seen[0][0] == 2
    profile["chargingProfilePurpose"] = "TxDefaultProfile"
    answer = await ask(
        harness, call.RemoteStartTransaction(id_tag="R1", connector_id=1, charging_profile=profile)
    )
    assert answer.status == "Rejected"
    keys = await ask(
        harness, call.GetConfiguration(key=["SupportedFeatureProfiles", "ChargeProfileMaxStackLevel"])
    )
    values = {k["key"]: (k["value"], k["readonly"]) for k in keys.configuration_key}
    assert values["SupportedFeatureProfiles"][0].endswith(",SmartCharging")
    assert values["ChargeProfileMaxStackLevel"] == ("8", True)


async def test_firmware_management_hooks(harness: Harness) -> None:
    adapter = harness.build()
    adapter.firmware_version = lambda: "2.0.0-new"
    reported: list[str] = []

    async def report_installed() -> None:
        await adapter.notify_firmware_status("Installed")
        reported.append("Installed")

    adapter.after_registration.append(report_installed)
    await harness.start()
    await eventually(lambda: reported == ["Installed"])
    assert harness.csms.calls("BootNotification")[0]["firmwareVersion"] == "2.0.0-new"
    assert harness.csms.calls("FirmwareStatusNotification") == [{"status": "Installed"}]
    await adapter.notify_diagnostics_status("Uploading")
    assert harness.csms.calls("DiagnosticsStatusNotification") == [{"status": "Uploading"}]
    await adapter.link.disable()
    await eventually(lambda: not adapter._online.is_set())
    with pytest.raises(ConnectionError):
        await adapter.notify_firmware_status("Downloading")


async def test_reset_soft_and_hard(harness: Harness) -> None:
    await harness.start()
    harness.station.start(1, "T")
    await harness.settle()
    assert (await ask(harness, call.Reset(type="Soft"))).status == "Accepted"
    await eventually(lambda: harness.restarts == [False], harness.clock, 0.5)
    stop = harness.csms.calls("StopTransaction")[0]
    assert stop["reason"] == "SoftReset"  # delivered before the restart
    harness.station.start(2, "T")
    await harness.settle()
    assert (await ask(harness, call.Reset(type="Hard"))).status == "Accepted"
    await eventually(lambda: harness.restarts == [False, True])
    assert harness.adapter is not None
    await harness.settle()
    assert harness.csms.calls("StopTransaction")[1]["reason"] == "HardReset"


async def test_unlock_connector(harness: Harness) -> None:
    await harness.start()
    assert (await ask(harness, call.UnlockConnector(connector_id=9))).status == "NotSupported"
    harness.station.start(2, "T")
    assert (await ask(harness, call.UnlockConnector(connector_id=2))).status == "Unlocked"
    assert harness.station.unlocked == [2]
    await harness.settle()
    assert harness.csms.calls("StopTransaction")[0]["reason"] == "UnlockCommand"


async def test_change_availability(harness: Harness) -> None:
    await harness.start()
    assert (
        await ask(harness, call.ChangeAvailability(connector_id=5, type="Inoperative"))
    ).status == "Rejected"
    assert (
        await ask(harness, call.ChangeAvailability(connector_id=2, type="Inoperative"))
    ).status == "Accepted"
    harness.station.start(1, "T")
    assert (
        await ask(harness, call.ChangeAvailability(connector_id=0, type="Inoperative"))
    ).status == "Scheduled"
    await eventually(
        lambda: any(
            s["connectorId"] == 2 and s["status"] == "Unavailable"
            for s in harness.csms.calls("StatusNotification")
        )
    )


async def test_get_and_change_configuration(harness: Harness) -> None:
    await harness.start()
    full = await ask(harness, call.GetConfiguration())
    keys = {k["key"]: k for k in full.configuration_key}
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert (
        keys["SupportedFeatureProfiles"]["value"] == "Core,LocalAuthListManagement,Reservation,RemoteTrigger"
    )
    some = await ask(harness, call.GetConfiguration(key=["HeartbeatInterval", "Foo"]))
    assert [k["key"] for k in some.configuration_key] == ["HeartbeatInterval"] and some.unknown_key == ["Foo"]
    cases = [
        ("Foo", "1", "NotSupported"),
        ("NumberOfConnectors", "3", "Rejected"),
        ("HeartbeatInterval", "abc", "Rejected"),
        ("HeartbeatInterval", "-5", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC", "Rejected"),
        ("MeterValuesSampledData", "Voltage,Current.Import", "Accepted"),
        ("LocalPreAuthorize", "TRUE", "Accepted"),
        ("HeartbeatInterval", "120", "Accepted"),
    ]
    for key, value, expected in cases:
        assert (await ask(harness, call.ChangeConfiguration(key=key, value=value))).status == expected, key
    after = await ask(harness, call.GetConfiguration(key=["MeterValuesSampledData", "LocalPreAuthorize"]))
    assert [k["value"] for k in after.configuration_key] == ["Voltage,Current.Import", "true"]


async def test_configuration_persists_and_presets_apply(harness: Harness) -> None:
    harness.ocpp_overrides["configuration"] = {"HeartbeatInterval": 77, "LocalPreAuthorize": True}
    harness.csms.boot_answers = [("Accepted", 0)]
    adapter = await harness.start()
    assert adapter.config.get("HeartbeatInterval") == "77"
    assert adapter.config.get("LocalPreAuthorize") == "true"
    assert (
        await ask(harness, call.ChangeConfiguration(key="HeartbeatInterval", value="900"))
    ).status == "Accepted"
    await adapter.stop()
    adapter = harness.build()
    assert adapter.config.get("HeartbeatInterval") == "900"  # the CSMS's change beats the preset
    assert adapter.config.get("LocalPreAuthorize") == "true"
    harness.adapter = None


async def test_data_transfer(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.register_data_transfer("acme", "Echo", lambda data: ("Accepted", (data or "")[::-1]))
    assert (await ask(harness, call.DataTransfer(vendor_id="nobody"))).status == "UnknownVendorId"
    assert (
        await ask(harness, call.DataTransfer(vendor_id="acme", message_id="X"))
    ).status == "UnknownMessageId"
    echo = await ask(harness, call.DataTransfer(vendor_id="acme", message_id="Echo", data="abc"))
    assert (echo.status, echo.data) == ("Accepted", "cba")
    status = await ask(harness, call.DataTransfer(vendor_id="chargepi", message_id="Status"))
    assert status.status == "Accepted" and '"ocpp"' in status.data


async def test_clear_cache_and_local_list(harness: Harness) -> None:
    adapter = await harness.start()
    assert (await ask(harness, call.GetLocalListVersion())).list_version == 0
    entries = [
        {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "B", "idTagInfo": {"status": "Blocked"}},
    ]
    full = call.SendLocalList(list_version=3, update_type="Full", local_authorization_list=entries)
    assert (await ask(harness, full)).status == "Accepted"
    assert (await ask(harness, call.GetLocalListVersion())).list_version == 3
    stale = call.SendLocalList(
        list_version=3,
        update_type="Differential",
        local_authorization_list=[{"idTag": "C", "idTagInfo": {"status": "Accepted"}}],
    )
    assert (await ask(harness, stale)).status == "VersionMismatch"
    diff = call.SendLocalList(
        list_version=4,
        update_type="Differential",
        local_authorization_list=[{"idTag": "A"}, {"idTag": "C", "idTagInfo": {"status": "Accepted"}}],
    )
    assert (await ask(harness, diff)).status == "Accepted"
    assert adapter.authorizer.list_size() == 2
    adapter.authorizer.remember("Z", {"status": "Accepted"})
    assert adapter.authorizer.cache_size() == 1
    assert (await ask(harness, call.ClearCache())).status == "Accepted"
    assert adapter.authorizer.cache_size() == 0
    too_many = [{"idTag": f"T{i}", "idTagInfo": {"status": "Accepted"}} for i in range(501)]
    big = call.SendLocalList(list_version=9, update_type="Full", local_authorization_list=too_many)
    assert (await ask(harness, big)).status == "Failed"
    assert (
        await ask(harness, call.ChangeConfiguration(key="LocalAuthListEnabled", value="false"))
    ).status == "Accepted"
    assert (await ask(harness, call.GetLocalListVersion())).list_version == -1
    assert (await ask(harness, full)).status == "NotSupported"


async def test_reserve_now_and_cancel(harness: Harness) -> None:
    await harness.start()
    expiry = rfc3339(harness.clock.now() + timedelta(minutes=10))
    past = rfc3339(harness.clock.now() - timedelta(minutes=1))
    answer = await ask(
        harness,
        call.ReserveNow(
            connector_id=1, expiry_date=expiry, id_tag="A", reservation_id=5, parent_id_tag="GROUP"
        ),
    )
    assert answer.status == "Accepted"
    connector, reservation = harness.station.reservations[5]
    assert connector == 1 and reservation.parent_id_tag == "GROUP"
    assert abs(reservation.expires_at_monotonic - (harness.clock.monotonic() + 600)) < 2
    assert reservation.admits("OTHER", "GROUP") and not reservation.admits("OTHER", None)
    zero = await ask(
        harness, call.ReserveNow(connector_id=0, expiry_date=expiry, id_tag="A", reservation_id=6)
    )
    assert zero.status == "Accepted" and harness.station.reservations[6][0] == 0
    late = await ask(harness, call.ReserveNow(connector_id=1, expiry_date=past, id_tag="A", reservation_id=7))
    assert late.status == "Rejected"
    bad = await ask(
        harness, call.ReserveNow(connector_id=4, expiry_date=expiry, id_tag="A", reservation_id=8)
    )
    assert bad.status == "Rejected"
    harness.station.start(2, "X")
    busy = await ask(
        harness, call.ReserveNow(connector_id=2, expiry_date=expiry, id_tag="A", reservation_id=9)
    )
    assert busy.status == "Occupied"
    assert (await ask(harness, call.CancelReservation(reservation_id=5))).status == "Accepted"
    assert (await ask(harness, call.CancelReservation(reservation_id=5))).status == "Rejected"
    harness.station.stop_session(2, StopReason.LOCAL)
    harness.station.start(1, "A", reservation_id=6)
    await harness.settle()
    assert harness.csms.calls("StartTransaction")[-1]["reservationId"] == 6


async def test_trigger_message_for_every_triggerable_message(harness: Harness) -> None:
    await harness.start()
    harness.station.meter(1, 5.0)
    await harness.settle()
    before = len(harness.csms.frames)
    for message, connector, expected_action in [
        ("BootNotification", None, "BootNotification"),
        ("Heartbeat", None, "Heartbeat"),
        ("StatusNotification", 2, "StatusNotification"),
        ("MeterValues", 1, "MeterValues"),
        ("FirmwareStatusNotification", None, "FirmwareStatusNotification"),
        ("DiagnosticsStatusNotification", None, "DiagnosticsStatusNotification"),
    ]:
        answer = await ask(harness, call.TriggerMessage(requested_message=message, connector_id=connector))
        assert answer.status == "Accepted"
        await eventually(lambda a=expected_action: harness.csms.actions()[-1] == a)  # type: ignore[misc]
    sent = [f for f in harness.csms.frames[before:] if f[0] == 2]
    by = {f[2]: f[3] for f in sent}
    assert by["StatusNotification"]["connectorId"] == 2
    assert by["MeterValues"]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert by["FirmwareStatusNotification"] == {"status": "Idle"}  # updates: test_signed_firmware_triggers
    assert by["DiagnosticsStatusNotification"] == {"status": "Idle"}
    assert (
        await ask(harness, call.TriggerMessage(requested_message="StatusNotification", connector_id=9))
    ).status == "Rejected"
    harness.station.set_status(1, ConnectorState.PREPARING)
    await eventually(lambda: harness.csms.calls("StatusNotification")[-1]["status"] == "Preparing")


async def test_smart_charging_not_supported_without_a_service(harness: Harness) -> None:
    from ocpp.exceptions import NotSupportedError

    await harness.start()
    with pytest.raises(NotSupportedError):
        await ask(harness, call.ClearChargingProfile(id=1))


async def test_a_triggered_message_whose_connection_drops_is_logged_not_crashed(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """The connection ends while a triggered Heartbeat waits for its answer: the trigger fails with a
    warning (it used to raise InvalidStateError in the after-handler), and the next trigger goes out."""
    await harness.start()
    await harness.settle()
    harness.csms.silence["Heartbeat"] = 1  # the first triggered Heartbeat is never answered
    assert (await ask(harness, call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == 1)
    with caplog.at_level("WARNING"):
        await harness.csms.kick()
        await eventually(lambda: "triggered Heartbeat failed" in caplog.text)
    await eventually(lambda: harness.csms.connections == 2 and harness.csms.cp is not None, harness.clock, 1)
    assert (await ask(harness, call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == 2)
    assert "InvalidStateError" not in caplog.text
