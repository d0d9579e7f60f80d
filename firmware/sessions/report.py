"""Energy per day, ISO week or month from session records (grouped in the charger's local time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from firmware.sessions.store import SessionRecord

Period = Literal["day", "week", "month"]


@dataclass
class PeriodTotal:
    period: str  # 2026-01-05, 2026-W02, 2026-01
    sessions: int = 0
    energy_wh: float = 0.0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"period": self.period, "sessions": self.sessions,
                "energy_kwh": round(self.energy_wh / 1000, 3), "hours": round(self.duration_s / 3600, 2)}


def period_of(when: datetime, by: Period, tz: tzinfo | None = None) -> str:
    local = when.astimezone(tz)
    if by == "day":
        return local.strftime("%Y-%m-%d")
    if by == "month":
        return local.strftime("%Y-%m")
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def totals(records: list[SessionRecord], by: Period, tz: tzinfo | None = None,
           now: datetime | None = None) -> list[PeriodTotal]:
    """Totals per period in which sessions started, oldest first; running sessions count so far."""
    out: dict[str, PeriodTotal] = {}
    for record in records:
        key = period_of(record.started_at, by, tz)
        total = out.setdefault(key, PeriodTotal(key))
        total.sessions += 1
        total.energy_wh += record.energy_wh
        total.duration_s += record.duration_s(now)
    return [out[key] for key in sorted(out)]
