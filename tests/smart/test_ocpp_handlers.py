"""The SmartChargingHandlers mixin end to end against a real websocket CSMS (the ocpp library's server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import ChargePoint, call

from firmware.ocpp.v16.smart_charging import SmartChargingHandlers
from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16
from firmware.settings import Settings
from firmware.smart.service import SmartChargingService
from hal.clock import SimClock
from tests.smart.fakes import RecordingStation
from tests.smart.helpers import at
from tools.bench.ocpp_loopback import CsmsSide, csms_and_charger


class _CP(SmartChargingHandlers, ChargePoint):  # type: ignore[misc]
    transactions: dict[int, int]

    def active_transaction_id(self, connector_id: int) -> int | None:
        return self.transactions.get(connector_id)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[CsmsSide, _CP, RecordingStation, SmartChargingService]]:
    clock = SimClock(at("2026-01-05T08:00"))
    station = RecordingStation([1, 2])
    settings = Settings(connectors=[{"id": 1}, {"id": 2}])
    service = SmartChargingService(station, clock, tmp_path, settings)  # type: ignore[arg-type]
    await service.start()
    async with csms_and_charger(_CP, smart_charging=V16(service), transactions={}) as (csms, cp):
        yield csms, cp, station, service
    await service.stop()


def cs_profile(id: int, purpose: str = "TxDefaultProfile", kind: str = "Relative", limit: float = 10.5,
               unit: str = "A", **extra: Any) -> dict[str, Any]:
    return {"charging_profile_id": id, "stack_level": 0, "charging_profile_purpose": purpose,
            "charging_profile_kind": kind, **extra,
            "charging_schedule": {"charging_rate_unit": unit,
                                  "charging_schedule_period": [{"start_period": 0, "limit": limit}]}}


async def test_set_profile_is_enforced_before_the_answer(rig: Any) -> None:
    csms, _, station, _ = rig
    result = await csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=cs_profile(1)),
                             suppress=False)
    assert result.status == "Accepted"
    assert station.limit("smart_charging", 1) == 10.5


async def test_tx_profile_rules(rig: Any) -> None:
    csms, cp, station, _ = rig
    result = await csms.call(call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=cs_profile(2, "TxProfile", transaction_id=9)), suppress=False)
    assert result.status == "Rejected"
    cp.transactions[1] = 9
    result = await csms.call(call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=cs_profile(2, "TxProfile", limit=0, transaction_id=9)),
        suppress=False)
    assert result.status == "Accepted"
    assert station.limit("smart_charging", 1) == 0


async def test_what_real_back_ends_send(rig: Any) -> None:
    csms, _, station, _ = rig
    # Relative ChargePointMaxProfile on connector 0 (Home Assistant's ocpp integration does this).
    result = await csms.call(call.SetChargingProfile(
        connector_id=0, cs_charging_profiles=cs_profile(3, "ChargePointMaxProfile", limit=11040, unit="W")),
        suppress=False)
    assert result.status == "Accepted"
    assert station.limit("smart_charging", 1) == 16.0  # 11040 W / (230 V x 3) = 16 A
    result = await csms.call(call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=cs_profile(4, "ChargePointMaxProfile")), suppress=False)
    assert result.status == "Rejected"


async def test_composite_schedule_and_clear(rig: Any) -> None:
    csms, _, _, _ = rig
    await csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=cs_profile(5, limit=16)),
                    suppress=False)
    result = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="W"),
                             suppress=False)
    assert result.status == "Accepted"
    assert result.connector_id == 1
    assert result.schedule_start == "2026-01-05T08:00:00Z"
    assert result.charging_schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 11040}]
    rejected = await csms.call(call.GetCompositeSchedule(connector_id=7, duration=600), suppress=False)
    assert rejected.status == "Rejected"
    cleared = await csms.call(call.ClearChargingProfile(id=5), suppress=False)
    assert cleared.status == "Accepted"
    again = await csms.call(call.ClearChargingProfile(id=5), suppress=False)
    assert again.status == "Unknown"
