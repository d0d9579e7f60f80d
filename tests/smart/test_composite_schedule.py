"""GetCompositeSchedule as the CSMS sees it (OCPP 1.6 §5.7, §7.13): periods start at scheduleStart, cover
exactly the duration, are merged, and connector 0 is the whole charger's expected consumption."""

from __future__ import annotations

import itertools
import math
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16
from firmware.settings import Settings
from firmware.smart.engine import ConnectorContext, limit_at
from firmware.smart.profiles import ChargingProfile
from firmware.smart.service import SmartChargingService
from hal.clock import SimClock
from tests.smart.fakes import RecordingStation
from tests.smart.helpers import MONDAY, profile
from tests.smart.test_ocpp16 import NOW

EIGHT = MONDAY + timedelta(hours=8)


def _service(tmp: str, now: datetime) -> tuple[SmartChargingService, RecordingStation]:
    station = RecordingStation([1, 2])
    settings = Settings(connectors=[{"id": 1}, {"id": 2}])
    return SmartChargingService(station, SimClock(now), Path(tmp), settings), station  # type: ignore[arg-type]


def _periods(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert result is not None
    periods: list[dict[str, Any]] = result["charging_schedule"]["charging_schedule_period"]
    return periods


def _floor1(value: float) -> float:
    return math.floor(value * 10 + 1e-6) / 10


def test_a_profile_starting_at_a_fraction_of_a_second_gives_no_spurious_periods() -> None:
    """The CSMS sets startSchedule to its own 'now' with milliseconds and asks for the composite at once."""
    with tempfile.TemporaryDirectory() as tmp:
        service, _ = _service(tmp, EIGHT + timedelta(milliseconds=700))
        cap = profile([(0, 10), (600, 8)], connector_id=0, purpose="ChargePointMaxProfile",
                      start="2026-01-05T08:00:00.400")
        assert service.install_profile(cap) == (True, "")
        result = V16(service).composite_schedule(1, 1200, "A")
        assert result is not None
        assert result["schedule_start"] == "2026-01-05T08:00:01Z"
        assert result["charging_schedule"]["duration"] == 1200
        assert _periods(result) == [{"start_period": 0, "limit": 10.0}, {"start_period": 599, "limit": 8.0}]


def test_periods_equal_at_the_schema_resolution_are_merged() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service, _ = _service(tmp, EIGHT)
        cap = profile([(0, 10.04), (300, 10.01), (600, 9)], connector_id=0, purpose="ChargePointMaxProfile")
        service.install_profile(cap)
        assert _periods(V16(service).composite_schedule(1, 900, "A")) == [
            {"start_period": 0, "limit": 10.0}, {"start_period": 600, "limit": 9.0}]


def test_connector_zero_is_the_sum_over_connectors_under_all_limits() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service, _ = _service(tmp, EIGHT)
        service.install_profile(profile([(0, 10), (600, 20)], connector_id=1))  # TxDefault connector 1
        service.install_profile(profile([(0, 6)], connector_id=2, id=2))  # TxDefault connector 2
        service.install_profile(profile([(0, 40), (900, 12)], id=3, connector_id=0,
                                        purpose="ChargePointMaxProfile"))
        assert _periods(V16(service).composite_schedule(0, 1800, "A")) == [
            {"start_period": 0, "limit": 16.0},  # 10 + 6
            {"start_period": 600, "limit": 26.0},  # 20 + 6
            {"start_period": 900, "limit": 12.0},  # the station cap
        ]


@st.composite
def fractional_profiles(draw: st.DrawFn) -> ChargingProfile:
    purpose = draw(st.sampled_from(["ChargePointMaxProfile", "TxDefaultProfile"]))
    n = draw(st.integers(1, 4))
    offsets = sorted(draw(st.sets(st.integers(1, 3600), min_size=n - 1, max_size=n - 1)))
    limits = draw(st.lists(st.integers(0, 320).map(lambda v: v / 10), min_size=n, max_size=n))
    start = NOW + timedelta(milliseconds=draw(st.integers(-5000, 5000)))
    return profile(
        list(zip([0, *offsets], limits, strict=True)), id=draw(st.integers(1, 1000)),
        connector_id=0 if purpose == "ChargePointMaxProfile" else draw(st.sampled_from([0, 1])),
        stack_level=draw(st.integers(0, 3)), purpose=purpose,
        start=start.replace(tzinfo=None).isoformat(timespec="milliseconds"),
        duration_s=draw(st.none() | st.integers(1, 3600)),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(fractional_profiles(), max_size=4), st.integers(0, 999), st.integers(1, 4000),
       st.integers(0, 3999))
def test_composite_periods_start_at_zero_cover_the_duration_and_match_the_limit(
        ps: list[ChargingProfile], now_ms: int, duration: int, probe: int) -> None:
    now = NOW + timedelta(milliseconds=now_ms)
    with tempfile.TemporaryDirectory() as tmp:
        service, _ = _service(tmp, now)
        for p in ps:
            service.install_profile(p)
        result = V16(service).composite_schedule(1, duration, "A")
        periods = _periods(result)
        assert result is not None and result["charging_schedule"]["duration"] == duration
        start = datetime.fromisoformat(result["schedule_start"].replace("Z", "+00:00"))
        assert start.microsecond == 0 and now <= start < now + timedelta(seconds=1)
        starts = [p["start_period"] for p in periods]
        assert starts[0] == 0 and all(0 <= s < duration for s in starts)
        assert starts == sorted(set(starts))  # strictly increasing: no zero-length or duplicate period
        for a, b in itertools.pairwise(periods):
            assert a["limit"] != b["limit"]  # merged
        # Away from a boundary (rounded to whole seconds) each period says what the engine enforces.
        probe %= duration
        t = start + timedelta(seconds=probe)
        edges = [(prof.schedule.start or start) + timedelta(seconds=s) for prof in service.profiles
                 for s in [*(p.start_s for p in prof.schedule.periods), prof.schedule.duration_s or 10**6]]
        if any(abs(edge - t) < timedelta(seconds=1.5) for edge in edges):
            return
        running = [p for p in periods if p["start_period"] <= probe][-1]
        hardware = Settings(connectors=[{"id": 1}]).connectors[0].rated_current_a
        expected = limit_at(service.profiles, t, ConnectorContext(1, hardware_max_a=hardware))
        assert running["limit"] == _floor1(expected.amps)
