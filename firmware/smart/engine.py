"""The schedule engine: charging profiles + time + connector context -> the current limit and a timeline.

Pure functions, no I/O, no OCPP. Rules (OCPP 1.6 §3.13, the same in 2.0.1):
* a profile applies at t when validFrom <= t < validTo and its schedule has a period running at t
  (t inside [start, start + duration), at or after the first period's start);
* within one purpose the applicable profile with the highest stack level wins; when its schedule has
  ended, the next lower stack level takes over;
* a TxProfile replaces the TxDefaultProfile; a TxDefaultProfile set on the connector itself replaces one
  set on connector 0;
* the ChargePointMaxProfile (connector 0) caps everything, as do the connector's hardware limits;
* limits in W become amps per phase with the phase count really used and the measured (or nominal)
  voltage. A period's numberPhases is honoured only when the connector can switch phases; otherwise
  the actual phase count is used, so a W limit is never exceeded. A switchable connector without a
  numberPhases request uses all supply phases, or 1 phase when a power limit is too low for 6 A on
  every phase but enough on one. `Limit.amps_now` is the limit on the phases in use until the switch.

Recurring schedules repeat every 24 h (Daily) or 7 days (Weekly) counted from startSchedule, in both
directions (validFrom/validTo bound them); a Recurring duration longer than the recurrence is cut to it.
Relative schedules start at the session start; with no session they start at the query time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware.smart.profiles import (
    ChargingProfile,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

RECURRENCE = {Recurrency.DAILY: timedelta(days=1), Recurrency.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What the engine needs to know about the connector being limited."""

    connector_id: int
    hardware_max_a: float  # rated, cable and configured limits already combined
    phases: int = 3  # phases the connector uses now (1 or 3)
    voltage_v: float = 230.0  # measured phase voltage, else nominal
    session_start: datetime | None = None  # anchor of Relative schedules
    can_switch_phases: bool = False  # whether numberPhases can be honoured (a phase-switch contactor)
    supply_phases: int = 3  # phases wired to the connector (upper bound for numberPhases)
    station_share: int = 1  # connectors sharing the ChargePointMaxProfile (its limit is divided)
    min_current_a: float = 6.0  # below this the connector pauses (IEC 61851-1)


@dataclass(frozen=True, slots=True)
class Limit:
    amps: float  # per phase, when charging on `phases` phases (the plan)
    phases: int  # phases to use
    bound_by: str  # "hardware" or the purpose that set the limit
    amps_now: float  # per phase on the phases in use now (ctx.phases): what to enforce until switched

    def watts(self, ctx: ConnectorContext) -> float:
        return self.amps * ctx.voltage_v * self.phases


@dataclass(frozen=True, slots=True)
class Segment:
    start: datetime
    end: datetime
    limit: Limit


def _valid(profile: ChargingProfile, t: datetime) -> bool:
    if profile.valid_from is not None and t < profile.valid_from:
        return False
    return profile.valid_to is None or t < profile.valid_to


def _schedule_start(profile: ChargingProfile, t: datetime, relative_start: datetime) -> datetime | None:
    """The start of the occurrence of the profile's schedule that covers t (None when there is none)."""
    sched = profile.schedule
    if profile.kind is Kind.RELATIVE:
        return relative_start
    if sched.start is None:
        return None
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        step = RECURRENCE[profile.recurrency]
        k = math.floor((t - sched.start) / step)
        return sched.start + k * step
    return sched.start


def _duration(profile: ChargingProfile) -> timedelta | None:
    duration = (timedelta(seconds=profile.schedule.duration_s)
                if profile.schedule.duration_s is not None else None)
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        step = RECURRENCE[profile.recurrency]
        return step if duration is None else min(duration, step)
    return duration


def active_period(profile: ChargingProfile, t: datetime, relative_start: datetime) -> SchedulePeriod | None:
    """The schedule period of `profile` running at t, or None when the profile does not apply at t."""
    if not _valid(profile, t):
        return None
    start = _schedule_start(profile, t, relative_start)
    if start is None or t < start:
        return None
    offset = (t - start).total_seconds()
    duration = _duration(profile)
    if duration is not None and offset >= duration.total_seconds():
        return None
    running: SchedulePeriod | None = None
    for period in profile.schedule.periods:
        if period.start_s <= offset:
            running = period
        else:
            break
    return running


def _relevant(profiles: Iterable[ChargingProfile], connector_id: int) -> list[ChargingProfile]:
    keep = []
    for p in profiles:
        station_wide = p.purpose is Purpose.CHARGE_POINT_MAX and p.connector_id == 0
        default = p.purpose is Purpose.TX_DEFAULT and p.connector_id in (0, connector_id)
        own = p.purpose is Purpose.TX and p.connector_id == connector_id
        if station_wide or default or own:
            keep.append(p)
    # Highest stack level first; ties (only possible across connector 0 / N) favour the connector's own.
    keep.sort(key=lambda p: (p.stack_level, p.connector_id != 0), reverse=True)
    return keep


def _winner(candidates: Sequence[ChargingProfile], t: datetime,
            relative_start: datetime) -> tuple[ChargingProfile, SchedulePeriod] | None:
    for profile in candidates:
        period = active_period(profile, t, relative_start)
        if period is not None:
            return profile, period
    return None


def limit_at(profiles: Iterable[ChargingProfile], t: datetime, ctx: ConnectorContext,
             relative_start: datetime | None = None) -> Limit:
    """The limit for connector ctx.connector_id at time t."""
    return _limit_at(_relevant(profiles, ctx.connector_id), t, ctx, relative_start or ctx.session_start or t)


def _limit_at(relevant: list[ChargingProfile], t: datetime, ctx: ConnectorContext,
              relative_start: datetime) -> Limit:
    by_purpose = {purpose: [p for p in relevant if p.purpose is purpose] for purpose in Purpose}
    tx_default = by_purpose[Purpose.TX_DEFAULT]
    own_defaults = [p for p in tx_default if p.connector_id != 0]
    station_defaults = [p for p in tx_default if p.connector_id == 0]
    transaction = (_winner(by_purpose[Purpose.TX], t, relative_start)
                   or _winner(own_defaults, t, relative_start)
                   or _winner(station_defaults, t, relative_start))
    station = _winner(by_purpose[Purpose.CHARGE_POINT_MAX], t, relative_start)
    chosen = [w for w in (transaction, station) if w is not None]

    phases = ctx.phases
    if ctx.can_switch_phases:
        asked = [w[1].number_phases for w in chosen if w[1].number_phases]
        if asked:
            phases = max(1, min(min(asked), ctx.supply_phases))
        else:
            phases = ctx.supply_phases
            # A power limit too low for the minimum current on every phase may still allow 1 phase.
            if phases > 1 and _cap(chosen, phases, ctx)[0] < ctx.min_current_a <= _cap(chosen, 1, ctx)[0]:
                phases = 1
    amps, bound_by = _cap(chosen, phases, ctx)
    amps_now = amps if phases == ctx.phases else _cap(chosen, ctx.phases, ctx)[0]
    return Limit(amps, phases, bound_by, amps_now)


def _cap(chosen: list[tuple[ChargingProfile, SchedulePeriod]], phases: int,
         ctx: ConnectorContext) -> tuple[float, str]:
    """The lowest of the chosen periods' limits and the hardware limit, in A per phase on `phases`."""
    amps, bound_by = ctx.hardware_max_a, "hardware"
    for profile, period in chosen:
        value = _to_amps(period.limit, profile.schedule.unit, phases, ctx.voltage_v)
        if profile.purpose is Purpose.CHARGE_POINT_MAX and ctx.station_share > 1:
            value /= ctx.station_share
        if value < amps:
            amps, bound_by = value, profile.purpose.value
    return max(0.0, amps), bound_by


def _to_amps(limit: float, unit: RateUnit, phases: int, voltage_v: float) -> float:
    if unit is RateUnit.AMPS:
        return limit
    return limit / (voltage_v * phases)


def _boundaries(profile: ChargingProfile, t0: datetime, t1: datetime,
                relative_start: datetime) -> set[datetime]:
    """Every instant in (t0, t1) at which `profile` may start, stop or change period."""
    points: set[datetime] = {p for p in (profile.valid_from, profile.valid_to) if p is not None}
    duration = _duration(profile)
    starts: list[datetime] = []
    if profile.kind is Kind.RECURRING and profile.recurrency is not None and profile.schedule.start:
        step = RECURRENCE[profile.recurrency]
        first = _schedule_start(profile, t0, relative_start)
        last = _schedule_start(profile, t1, relative_start)
        if first is not None and last is not None:
            starts = [first + i * step for i in range(round((last - first) / step) + 1)]
    else:
        start = _schedule_start(profile, t0, relative_start)
        starts = [start] if start is not None else []
    for start in starts:
        points.update(start + timedelta(seconds=p.start_s) for p in profile.schedule.periods)
        points.add(start)
        if duration is not None:
            points.add(start + duration)
    return {p for p in points if t0 < p < t1}


def timeline(profiles: Iterable[ChargingProfile], t0: datetime, duration_s: float,
             ctx: ConnectorContext) -> list[Segment]:
    """The composite schedule over [t0, t0 + duration_s): consecutive segments of constant limit."""
    t1 = t0 + timedelta(seconds=duration_s)
    relative_start = ctx.session_start or t0
    relevant = _relevant(profiles, ctx.connector_id)
    points = {t0}
    for profile in relevant:
        points |= _boundaries(profile, t0, t1, relative_start)
    ordered = sorted(points)
    segments: list[Segment] = []
    for i, start in enumerate(ordered):
        end = ordered[i + 1] if i + 1 < len(ordered) else t1
        limit = _limit_at(relevant, start, ctx, relative_start)
        last = segments[-1].limit if segments else None
        if last is not None and (last.amps, last.phases) == (limit.amps, limit.phases):
            segments[-1] = Segment(segments[-1].start, end, limit)
        else:
            segments.append(Segment(start, end, limit))
    return segments


def station_timeline(each: Sequence[Sequence[Segment]], cap: Sequence[Segment], t0: datetime,
                     duration_s: float, ctx: ConnectorContext) -> list[Segment]:
    """The whole charger over [t0, t0 + duration_s): the sum of every connector's timeline (A per phase),
    capped by the station-wide timeline `cap` (ChargePointMaxProfile and the summed hardware limits)."""
    t1 = t0 + timedelta(seconds=duration_s)
    points = sorted({seg.start for line in (*each, cap) for seg in line if t0 <= seg.start < t1} | {t0})
    segments: list[Segment] = []
    for i, start in enumerate(points):
        end = points[i + 1] if i + 1 < len(points) else t1
        total = sum(_segment_at(line, start).limit.amps for line in each)
        bound = _segment_at(cap, start).limit
        limit = Limit(total, ctx.phases, "connectors", total) if total < bound.amps else bound
        if segments and segments[-1].limit.amps == limit.amps:
            segments[-1] = Segment(segments[-1].start, end, segments[-1].limit)
        else:
            segments.append(Segment(start, end, limit))
    return segments


def _segment_at(line: Sequence[Segment], t: datetime) -> Segment:
    for seg in line:
        if seg.start <= t < seg.end:
            return seg
    return line[-1]


def next_change(profiles: Iterable[ChargingProfile], t: datetime, ctx: ConnectorContext,
                horizon_s: float = 8 * 24 * 3600) -> datetime | None:
    """When the limit next changes after t (None when it stays the same for the whole horizon)."""
    segments = timeline(profiles, t, horizon_s, ctx)
    return segments[1].start if len(segments) > 1 else None
