"""Compact builders for charging profiles in tests."""

from __future__ import annotations

from datetime import UTC, datetime

from firmware.smart.profiles import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

MONDAY = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # 2026-01-05 is a Monday


def at(text: str) -> datetime:
    """'2026-01-05T08:00' (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def profile(
    periods: list[tuple[int, float] | tuple[int, float, int]],
    *,
    id: int = 1,
    connector_id: int = 1,
    stack_level: int = 0,
    purpose: str = "TxDefaultProfile",
    kind: str = "Absolute",
    unit: str = "A",
    start: str | None = "2026-01-05T08:00",
    duration_s: int | None = None,
    recurrency: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
    transaction_id: int | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        id=id, connector_id=connector_id, stack_level=stack_level, purpose=Purpose(purpose),
        kind=Kind(kind), recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=at(valid_from) if valid_from else None, valid_to=at(valid_to) if valid_to else None,
        transaction_id=transaction_id,
        schedule=ChargingSchedule(
            unit=RateUnit(unit), duration_s=duration_s, start=at(start) if start else None,
            periods=tuple(SchedulePeriod(p[0], float(p[1]), p[2] if len(p) > 2 else None)
                          for p in periods),
        ),
    )
