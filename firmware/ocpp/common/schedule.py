"""Composite schedules on the wire, the same in OCPP 1.6 and 2.0.1: the neutral engine's segments as
chargingSchedulePeriod entries (snake_case, as the `ocpp` library takes them).

Both versions' schemas accept at most one digit of fraction in a limit (1.6 `multipleOf 0.1`, 2.0.1
"Accepts at most one digit fraction"), so limits are rounded down to 0.1: the CSMS never reads more than
the station allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from firmware.smart.engine import ConnectorContext, Segment
from firmware.smart.profiles import RateUnit


def floor1(value: float) -> float:
    """Round down to the 0.1 resolution of the schemas."""
    return round(math.floor(value * 10 + 1e-6) / 10, 1)


def composite_periods(t0: datetime, duration_s: int, segments: Sequence[Segment], unit: RateUnit,
                      ctx: ConnectorContext) -> list[dict[str, Any]]:
    """The periods from `t0` (whole seconds) over `duration_s`: they start at 0, and each differs from the
    one before: boundaries are rounded to whole seconds (a period that rounds to no length gives way to the
    next) and periods that look alike at 0.1 resolution are merged. `number_phases` where the phases differ
    from the connector's or the engine plans them."""
    periods: list[dict[str, Any]] = []
    for seg in segments:
        start = round((seg.start - t0).total_seconds())
        if start >= duration_s:
            break
        value = seg.limit.amps if unit is RateUnit.AMPS else seg.limit.amps * ctx.voltage_v * seg.limit.phases
        period: dict[str, Any] = {"start_period": start, "limit": floor1(value)}
        if seg.limit.phases != ctx.phases or ctx.can_switch_phases:
            period["number_phases"] = seg.limit.phases
        while periods and periods[-1]["start_period"] >= start:
            periods.pop()
        if periods and {**periods[-1], "start_period": start} == period:
            continue
        periods.append(period)
    return periods
