"""SmartChargingService on simulated time: enforcement, boundaries, hysteresis, persistence, Tx cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from firmware.core.events import MeterSampled
from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16
from firmware.settings import Settings
from firmware.smart.service import SmartChargingService
from hal.clock import SimClock
from hal.types import MeterReading
from tests.smart.fakes import RecordingStation
from tests.smart.helpers import at

T0 = at("2026-01-05T08:00")


def sched(*periods: tuple[int, Any], unit: str = "A", **extra: Any) -> dict[str, Any]:
    return {"charging_rate_unit": unit,
            "charging_schedule_period": [{"start_period": s, "limit": v} for s, v in periods], **extra}


def profile(id: int = 1, purpose: str = "TxDefaultProfile", kind: str = "Relative", stack: int = 0,
            charging_schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"charging_profile_id": id, "stack_level": stack, "charging_profile_purpose": purpose,
            "charging_profile_kind": kind, "charging_schedule": charging_schedule or sched((0, 16))}


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def station() -> RecordingStation:
    return RecordingStation([1, 2])


def make_settings(**kw: Any) -> Settings:
    data: dict[str, Any] = {"connectors": [{"id": 1}, {"id": 2}], "smart_charging": {"min_pause_s": 120}}
    data.update(kw)
    return Settings(**data)


@pytest.fixture
async def service(station: RecordingStation, clock: SimClock,
                  tmp_path: Path) -> AsyncIterator[SmartChargingService]:
    svc = SmartChargingService(station, clock, tmp_path, make_settings())  # type: ignore[arg-type]
    await svc.start()
    yield svc
    await svc.stop()


async def test_install_applies_the_limit_in_the_same_call(service: SmartChargingService,
                                                           station: RecordingStation) -> None:
    ok, why = V16(service).install(1, profile(charging_schedule=sched((0, Decimal("10.5")))), None)
    assert (ok, why) == (True, "")
    assert station.limit("smart_charging", 1) == 10.5
    assert station.limit("smart_charging", 2) is None


async def test_station_default_limits_every_connector_and_clear_lifts_it(
        service: SmartChargingService, station: RecordingStation) -> None:
    assert V16(service).install(0, profile(), None)[0]
    assert station.limit("smart_charging", 1) == 16 and station.limit("smart_charging", 2) == 16
    assert V16(service).clear(connector_id=0) is True
    assert station.limit("smart_charging", 1) is None and station.limit("smart_charging", 2) is None
    assert V16(service).clear(connector_id=0) is False  # nothing left: Unknown


async def test_boundaries_are_enforced_on_time(service: SmartChargingService, station: RecordingStation,
                                               clock: SimClock) -> None:
    V16(service).install(1, profile(kind="Absolute", charging_schedule=sched(
        (0, 16), (600, 8), (1800, 20), start_schedule="2026-01-05T08:00:00Z")), None)
    assert station.limit("smart_charging", 1) == 16
    await clock.advance(599)
    assert station.limit("smart_charging", 1) == 16
    await clock.advance(1)
    assert station.limit("smart_charging", 1) == 8
    await clock.advance(1200)
    assert station.limit("smart_charging", 1) == 20


async def test_pause_below_6a_holds_for_min_pause(service: SmartChargingService, station: RecordingStation,
                                                  clock: SimClock) -> None:
    V16(service).install(1, profile(id=1, charging_schedule=sched((0, 0))), None)
    assert station.limit("smart_charging", 1) == 0
    await clock.advance(30)
    V16(service).install(1, profile(id=1, charging_schedule=sched((0, 16))), None)
    assert station.limit("smart_charging", 1) == 0  # still within the 120 s minimum pause
    await clock.advance(89)
    assert station.limit("smart_charging", 1) == 0
    await clock.advance(1)
    assert station.limit("smart_charging", 1) == 16
    # Lowering is never delayed.
    V16(service).install(1, profile(id=1, charging_schedule=sched((0, 4.5))), None)
    assert station.limit("smart_charging", 1) == 4.5


async def test_tx_profile_needs_a_session_and_goes_with_it(service: SmartChargingService,
                                                          station: RecordingStation, clock: SimClock) -> None:
    ok, why = V16(service).install(1, profile(purpose="TxProfile", charging_schedule=sched((0, 10))), None)
    assert not ok and "no transaction" in why
    station.start_session(1, clock.now())
    assert V16(service).install(1, profile(purpose="TxProfile", charging_schedule=sched((0, 10))), 77)[0]
    assert station.limit("smart_charging", 1) == 10
    station.stop_session(1, clock.now())
    assert service.profiles == []
    assert station.limit("smart_charging", 1) is None


async def test_relative_tx_default_counts_from_session_start(
        service: SmartChargingService, station: RecordingStation, clock: SimClock) -> None:
    V16(service).install(1, profile(charging_schedule=sched((0, 8), (3600, 16))), None)
    await clock.advance(1800)
    station.start_session(1, clock.now())
    assert station.limit("smart_charging", 1) == 8
    await clock.advance(3599)
    assert station.limit("smart_charging", 1) == 8
    await clock.advance(1)
    assert station.limit("smart_charging", 1) == 16


async def test_watts_use_measured_voltage_and_phases(service: SmartChargingService,
                                                     station: RecordingStation, clock: SimClock) -> None:
    station.start_session(1, clock.now())
    V16(service).install(1, profile(charging_schedule=sched((0, 11040), unit="W")), None)
    assert station.limit("smart_charging", 1) == 16.0
    # A 1-phase car on the 3-phase connector, at 240 V: 11040 W / 240 V on one phase = 46 A -> hardware.
    station.publish(MeterSampled(1, MeterReading(0.0, voltage_v=(240.0, 240.0, 240.0),
                                                 current_a=(10.0, 0.0, 0.0)), clock.now(), "s1"))
    assert station.limit("smart_charging", 1) is None  # bound by the hardware: source cleared
    V16(service).install(1, profile(charging_schedule=sched((0, 3600), unit="W")), None)
    assert station.limit("smart_charging", 1) == 15.0


async def test_profiles_survive_a_restart(station: RecordingStation, clock: SimClock, tmp_path: Path) -> None:
    first = SmartChargingService(station, clock, tmp_path, make_settings())  # type: ignore[arg-type]
    await first.start()
    V16(first).install(0, profile(id=5, purpose="ChargePointMaxProfile", charging_schedule=sched((0, 13))),
                       None)
    station.start_session(2, clock.now())
    V16(first).install(2, profile(id=6, purpose="TxProfile", charging_schedule=sched((0, 7))), 3)
    await first.stop()
    station.limits.clear()
    del station.sessions[2]  # the power cut ended the session while we were down
    second = SmartChargingService(station, clock, tmp_path, make_settings())  # type: ignore[arg-type]
    await second.start()
    assert [p.id for p in second.profiles] == [5]
    assert station.limit("smart_charging", 1) == 13
    await second.stop()


async def test_composite_schedule_payload(service: SmartChargingService, clock: SimClock) -> None:
    V16(service).install(0, profile(id=1, purpose="ChargePointMaxProfile", kind="Absolute",
                               charging_schedule=sched((0, 20), (1800, 10),
                                                       start_schedule="2026-01-05T08:00:00Z")), None)
    V16(service).install(1, profile(id=2, charging_schedule=sched((0, 16))), None)
    result = V16(service).composite_schedule(1, 3600, "W")
    assert result is not None
    assert result["schedule_start"] == "2026-01-05T08:00:00Z"
    assert result["charging_schedule"]["charging_rate_unit"] == "W"
    assert result["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 11040.0}, {"start_period": 1800, "limit": 6900.0}]
    station_wide = V16(service).composite_schedule(0, 3600, "A")
    assert station_wide is not None
    assert [p["limit"] for p in station_wide["charging_schedule"]["charging_schedule_period"]] == [20.0, 10.0]
    assert V16(service).composite_schedule(9, 60, "A") is None
    assert V16(service).composite_schedule(1, 60, "kW") is None


async def test_bad_input_never_raises(service: SmartChargingService) -> None:
    bad: Any
    for bad in (None, 5, {"charging_profile_id": "x"}, {"charging_schedule": []}):
        ok, why = V16(service).install(1, bad, None)
        assert not ok and why


async def test_status_section(service: SmartChargingService, station: RecordingStation,
                              clock: SimClock) -> None:
    V16(service).install(1, profile(kind="Absolute", charging_schedule=sched(
        (0, 16), (600, 8), start_schedule="2026-01-05T08:00:00Z")), None)
    status = station.sections["smart_charging"]()
    assert status["connectors"]["1"]["limit_a"] == 16
    assert status["connectors"]["1"]["next_change"] == "2026-01-05T08:10:00Z"
    assert status["profiles"][0]["id"] == 1
    assert clock.now() + timedelta(minutes=10) == at("2026-01-05T08:10")


async def test_a_failing_listener_does_not_stop_enforcement(
        service: SmartChargingService, station: RecordingStation, clock: SimClock) -> None:
    def broken(limits: object) -> None:
        raise RuntimeError("boom")

    service.on_change(broken)
    assert V16(service).install(1, profile(kind="Absolute", charging_schedule=sched(
        (0, 16), (600, 8), start_schedule="2026-01-05T08:00:00Z")), None) == (True, "")
    assert station.limit("smart_charging", 1) == 16
    await clock.advance(600)
    assert station.limit("smart_charging", 1) == 8


async def test_remote_start_profile_waits_for_its_session(service: SmartChargingService,
                                                          station: RecordingStation, clock: SimClock) -> None:
    assert not V16(service).accept_remote_start_profile(1, profile(purpose="TxDefaultProfile"))
    assert not V16(service).accept_remote_start_profile(1, {"charging_profile_purpose": "TxProfile"})
    assert V16(service).accept_remote_start_profile(None, profile(purpose="TxProfile",
                                                             charging_schedule=sched((0, 11))))
    assert station.limit("smart_charging", 2) is None  # nothing before the session
    station.start_session(2, clock.now())
    assert station.limit("smart_charging", 2) == 11
    station.stop_session(2, clock.now())
    assert service.profiles == []
    # Not started within the connection timeout (60 s): forgotten.
    late = profile(purpose="TxProfile", charging_schedule=sched((0, 9)))
    assert V16(service).accept_remote_start_profile(1, late)
    await clock.advance(61)
    station.start_session(1, clock.now())
    assert station.limit("smart_charging", 1) is None
