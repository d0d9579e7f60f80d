"""OCPP 2.0.1 remote control and availability of the real charger (Application on the fake HAL, simulated
time, the 2.0.1 authorizer) against the strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both
ways): DataTransfer (P01); RequestStartTransaction with a chargingProfile and AuthorizeRemoteStart
(Authorize, then the transaction with RemoteStart and the remoteStartId), UnlockConnector during it,
ChangeAvailability Scheduled, RequestStopTransaction and the StatusNotification Unavailable after it; the
NotifyEvents of a fault raised and cleared; ReserveNow, its expiry (ReservationStatusUpdate Expired) and
CancelReservation. Skipped without node / `make interop-setup`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP-IOP-201RC"


def events(csms: InteropCsms) -> list[dict[str, Any]]:
    return [p for _, p in csms.calls("TransactionEvent", cp=CP)]


def statuses(csms: InteropCsms) -> list[str]:
    return [p["connectorStatus"] for _, p in csms.calls("StatusNotification", cp=CP)]


async def test_remote_start_stop_unlock_and_availability_pass_strict_validation(
        make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(ocpp={
            "url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
            "reconnect_min_s": 1.0, "device_model": {"AuthCtrlr.AuthorizeRemoteStart": "true"}},
            station={"free_charging": False})
        await drive(h, lambda: len(statuses(csms)) >= 1)
        # P01: the built-in vendor message answers the status document (anyType data, strictly checked)
        status = await csms.call(CP, "DataTransfer", {"vendorId": "chargepi", "messageId": "Status"})
        assert status["status"] == "Accepted" and status["data"]["connectors"][0]["id"] == 1
        assert await csms.call(CP, "DataTransfer", {"vendorId": "x.y"}) == {"status": "UnknownVendorId"}
        answer = await csms.call(CP, "RequestStartTransaction", {
            "idToken": {"idToken": "APP-IOP", "type": "Central"}, "remoteStartId": 77, "evseId": 1,
            "chargingProfile": {"id": 5, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
                                "chargingProfileKind": "Relative", "chargingSchedule": [{
                                    "id": 1, "chargingRateUnit": "A",
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}]}})
        assert answer == {"status": "Accepted"}
        await drive(h, lambda: len(csms.calls("Authorize", cp=CP)) == 1)
        h.sim.plug()
        await drive(h, lambda: len(events(csms)) >= 1)
        started = events(csms)[0]
        assert started["triggerReason"] == "RemoteStart" and started["transactionInfo"]["remoteStartId"] == 77
        assert started["idToken"] == {"idToken": "APP-IOP", "type": "Central"}
        tx = started["transactionInfo"]["transactionId"]
        assert [p.id for p in h.app.smart_charging.profiles] == [5]  # its TxProfile
        await drive(h, lambda: h.station.session_of(1) is not None)
        unlock = await csms.call(CP, "UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert unlock == {"status": "OngoingAuthorizedTransaction"}
        availability = await csms.call(CP, "ChangeAvailability",
                                       {"operationalStatus": "Inoperative", "evse": {"id": 1}})
        assert availability == {"status": "Scheduled"}
        assert await csms.call(CP, "RequestStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
        await drive(h, lambda: events(csms)[-1]["eventType"] == "Ended")
        assert events(csms)[-1]["transactionInfo"]["stoppedReason"] == "Remote"
        h.sim.unplug()
        await drive(h, lambda: statuses(csms)[-1] == "Unavailable")
        unlocked = await csms.call(CP, "UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert unlocked == {"status": "Unlocked"}
        assert await csms.call(CP, "ChangeAvailability", {"operationalStatus": "Operative"}) == \
            {"status": "Accepted"}
        await drive(h, lambda: statuses(csms)[-1] == "Available")
        clean(csms)


async def test_fault_notify_events_pass_strict_validation(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(ocpp={
            "url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
            "reconnect_min_s": 1.0})
        await drive(h, lambda: len(statuses(csms)) >= 1)
        h.sim.inject("meter-offline")
        await drive(h, lambda: len(csms.calls("NotifyEvent", cp=CP)) == 1)
        h.sim.clear("meter-offline")
        await drive(h, lambda: len(csms.calls("NotifyEvent", cp=CP)) == 2)
        raised, cleared = (p["eventData"][0] for _, p in csms.calls("NotifyEvent", cp=CP))
        assert (raised["component"]["name"], raised["variable"]["name"], raised["actualValue"]) == \
            ("EVSE", "Problem", "true")
        assert cleared["cleared"] is True and cleared["eventId"] == raised["eventId"] + 1
        clean(csms)


async def test_reservations_pass_strict_validation(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await make_harness(ocpp={
            "url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
            "reconnect_min_s": 1.0})
        await drive(h, lambda: len(statuses(csms)) >= 1)
        expiry = (h.clock.now() + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
        answer = await csms.call(CP, "ReserveNow", {
            "id": 9, "expiryDateTime": expiry, "idToken": {"idToken": "CARD-IOP", "type": "ISO14443"},
            "evseId": 1, "groupIdToken": {"idToken": "FLEET", "type": "Central"}})
        assert answer == {"status": "Accepted"}
        await drive(h, lambda: statuses(csms)[-1] == "Reserved")
        await drive(h, lambda: len(csms.calls("ReservationStatusUpdate", cp=CP)) == 1, within=30)
        assert csms.calls("ReservationStatusUpdate", cp=CP)[0][1] == {"reservationId": 9,
                                                                      "reservationUpdateStatus": "Expired"}
        assert await csms.call(CP, "CancelReservation", {"reservationId": 9}) == {"status": "Rejected"}
        clean(csms)
