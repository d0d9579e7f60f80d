"""The real 2.0.1 charger (Application on the fake HAL) against the strict ocpp-rpc CSMS
(tools/interop/csms.js, schema validation both ways): SetChargingProfile reaches the PWM duty, a refusal
carries its reasonCode, GetChargingProfiles → ReportChargingProfiles, GetCompositeSchedule and
ClearChargingProfile, NotifyChargingLimit / ClearedChargingLimit for derating, every frame valid against
the 2.0.1 schemas. The charger runs on simulated time; the
network and the CSMS run in real time."""

from __future__ import annotations

from typing import Any

import pytest

from hal.types import PilotOutputMode
from tests.conftest import Harness, HarnessFactory
from tests.interop.harness import run_interop_csms
from tests.interop.test_charger_profiles import clean, drive

CP = "CP_201_SMART"


def duty(h: Harness) -> float | None:
    out = h.sim_connector(1).pilot.output
    return out.duty_percent if out.mode == PilotOutputMode.PWM else None


def tx_profile(id: int, limit: float, transaction_id: str) -> dict[str, Any]:
    period = {"startPeriod": 0, "limit": limit}
    return {"id": id, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": transaction_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}]}


async def test_profiles_over_the_strict_csms(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        section = {"url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
                   "reconnect_min_s": 1.0, "response_timeout_s": 5.0}
        h: Harness = await make_harness(ocpp=section, station={"free_charging": True})  # charges at the plug
        await drive(h, lambda: bool(csms.calls("StatusNotification", cp=CP)))
        h.sim.plug()
        await drive(h, lambda: any(p["transactionInfo"].get("chargingState") == "Charging"
                                   for _, p in csms.calls("TransactionEvent", cp=CP)))
        tx = csms.calls("TransactionEvent", cp=CP)[0][1]["transactionInfo"]["transactionId"]
        assert duty(h) == pytest.approx(53.33, abs=0.01)

        answer = await csms.call(CP, "SetChargingProfile",
                                 {"evseId": 1, "chargingProfile": tx_profile(1, 10, tx)})
        assert answer == {"status": "Accepted"}
        assert duty(h) == pytest.approx(16.67, abs=0.01)
        refused = await csms.call(CP, "SetChargingProfile",
                                  {"evseId": 1, "chargingProfile": tx_profile(2, 8, "another")})
        assert refused["status"] == "Rejected" and refused["statusInfo"]["reasonCode"] == "TxNotFound"

        got = await csms.call(CP, "GetChargingProfiles", {"requestId": 7, "chargingProfile": {
            "chargingLimitSource": ["CSO"]}})
        assert got == {"status": "Accepted"}
        await drive(h, lambda: bool(csms.calls("ReportChargingProfiles", cp=CP)))
        report = csms.calls("ReportChargingProfiles", cp=CP)[0][1]
        assert report["requestId"] == 7 and report["evseId"] == 1 and report["chargingLimitSource"] == "CSO"
        assert [p["id"] for p in report["chargingProfile"]] == [1]
        assert report["chargingProfile"][0]["transactionId"] == tx

        composite = await csms.call(CP, "GetCompositeSchedule", {"duration": 300, "evseId": 1})
        assert composite["status"] == "Accepted"
        assert composite["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10}]

        cleared = await csms.call(CP, "ClearChargingProfile", {"chargingProfileId": 1})
        assert cleared == {"status": "Accepted"}
        await drive(h, lambda: duty(h) == pytest.approx(53.33, abs=0.01))

        # K11-K13: derating is an external limit (source Other), reported with its schedule, then released.
        answer = await csms.call(CP, "SetVariables", {"setVariableData": [{
            "component": {"name": "SmartChargingCtrlr"},
            "variable": {"name": "NotifyChargingLimitWithSchedules"}, "attributeValue": "true"}]})
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        h.sim.set_temperature(66)
        await drive(h, lambda: bool(csms.calls("NotifyChargingLimit", cp=CP)))
        notified = csms.calls("NotifyChargingLimit", cp=CP)[0][1]
        assert notified["chargingLimit"] == {"chargingLimitSource": "Other"} and notified["evseId"] == 1
        got = await csms.call(CP, "GetChargingProfiles", {"requestId": 8, "chargingProfile": {
            "chargingLimitSource": ["Other"]}})
        assert got == {"status": "Accepted"}

        def reports() -> list[dict[str, Any]]:
            return [p for _, p in csms.calls("ReportChargingProfiles", cp=CP) if p["requestId"] == 8]

        await drive(h, lambda: bool(reports()))
        [profile] = reports()[0]["chargingProfile"]
        assert profile["chargingProfilePurpose"] == "ChargingStationExternalConstraints"
        h.sim.set_temperature(40)
        await drive(h, lambda: bool(csms.calls("ClearedChargingLimit", cp=CP)))
        released = csms.calls("ClearedChargingLimit", cp=CP)[0][1]
        assert released == {"chargingLimitSource": "Other", "evseId": 1}
        events = [p for _, p in csms.calls("TransactionEvent", cp=CP)]
        assert any(p["triggerReason"] == "ChargingRateChanged" for p in events)
        clean(csms)
