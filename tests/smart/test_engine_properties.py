"""Property tests of the schedule engine over random profile sets (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.smart.engine import ConnectorContext, active_period, limit_at, timeline
from firmware.smart.profiles import ChargingProfile, Purpose, RateUnit
from tests.smart.helpers import MONDAY, profile

WEEK_S = 7 * 24 * 3600


@st.composite
def profiles(draw: st.DrawFn, purpose: str | None = None) -> ChargingProfile:
    purpose = purpose or draw(st.sampled_from(["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]))
    kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
    unit = draw(st.sampled_from(["A", "W"]))
    n = draw(st.integers(1, 4))
    offsets = sorted(draw(st.sets(st.integers(1, 20 * 3600), min_size=n - 1, max_size=n - 1)))
    top = 32 if unit == "A" else 22080
    limits = draw(st.lists(st.integers(0, top * 10).map(lambda v: v / 10), min_size=n, max_size=n))
    phases = draw(st.lists(st.sampled_from([None, 1, 3]), min_size=n, max_size=n))
    periods = [(o, v, ph) if ph else (o, v) for o, v, ph in zip([0, *offsets], limits, phases, strict=True)]
    start_h = draw(st.integers(-48, 48))
    start = (MONDAY + timedelta(hours=start_h, minutes=draw(st.sampled_from([0, 15, 59]))))
    valid_from = draw(st.none() | st.integers(-72, 72))
    valid_len = draw(st.integers(1, 96))
    return profile(
        periods,
        id=draw(st.integers(1, 1000)),
        connector_id=0 if purpose == "ChargePointMaxProfile" else draw(st.sampled_from([0, 1])),
        stack_level=draw(st.integers(0, 3)),
        purpose=purpose, kind=kind, unit=unit,
        start=None if kind == "Relative" else start.strftime("%Y-%m-%dT%H:%M"),
        recurrency=draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
        duration_s=draw(st.none() | st.integers(60, 3 * 24 * 3600)),
        valid_from=None if valid_from is None else
        (MONDAY + timedelta(hours=valid_from)).strftime("%Y-%m-%dT%H:%M"),
        valid_to=None if valid_from is None else
        (MONDAY + timedelta(hours=valid_from + valid_len)).strftime("%Y-%m-%dT%H:%M"),
    )


contexts = st.builds(
    ConnectorContext, connector_id=st.just(1), hardware_max_a=st.sampled_from([6.0, 16.0, 32.0]),
    phases=st.sampled_from([1, 3]), voltage_v=st.sampled_from([220.0, 230.0, 241.5]),
    session_start=st.none() | st.just(MONDAY - timedelta(minutes=30)),
    can_switch_phases=st.booleans(),
)


def _amps(p: ChargingProfile, value: float, phases: int, voltage: float) -> float:
    return value if p.schedule.unit is RateUnit.AMPS else value / (voltage * phases)


def _top_of(chain: list[ChargingProfile], t, rel):
    """The applicable profile with the highest stack level in a chain, found by brute force."""
    live = [(p, active_period(p, t, rel)) for p in chain]
    live = [(p, per) for p, per in live if per is not None]
    if not live:
        return None
    return max(live, key=lambda x: x[0].stack_level)


@settings(max_examples=300, deadline=None)
@given(st.lists(profiles(), max_size=6), contexts, st.integers(0, WEEK_S), st.integers(0, 2 * 24 * 3600))
def test_composite_never_above_hardware_or_winning_caps(
        ps: list[ChargingProfile], ctx: ConnectorContext, start_s: int, probe_s: int) -> None:
    t0 = MONDAY + timedelta(seconds=start_s)
    t = t0 + timedelta(seconds=probe_s)
    rel = ctx.session_start or t0
    limit = limit_at(ps, t, ctx, rel)
    assert 0.0 <= limit.amps <= ctx.hardware_max_a
    assert 0.0 <= limit.amps_now <= ctx.hardware_max_a
    if not ctx.can_switch_phases:
        assert limit.phases == ctx.phases
    cpmax = _top_of([p for p in ps if p.purpose is Purpose.CHARGE_POINT_MAX], t, rel)
    if cpmax is not None:
        assert limit.amps <= _amps(cpmax[0], cpmax[1].limit, limit.phases, ctx.voltage_v) + 1e-9
        assert limit.amps_now <= _amps(cpmax[0], cpmax[1].limit, ctx.phases, ctx.voltage_v) + 1e-9
    tx = _top_of([p for p in ps if p.purpose is Purpose.TX and p.connector_id == 1], t, rel)
    if tx is not None:
        assert limit.amps <= _amps(tx[0], tx[1].limit, limit.phases, ctx.voltage_v) + 1e-9
        assert limit.amps_now <= _amps(tx[0], tx[1].limit, ctx.phases, ctx.voltage_v) + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(profiles(), max_size=5), contexts, st.integers(0, WEEK_S),
       st.lists(st.integers(0, 36 * 3600 - 1), min_size=1, max_size=8))
def test_timeline_matches_pointwise_limit(
        ps: list[ChargingProfile], ctx: ConnectorContext, start_s: int, probes: list[int]) -> None:
    t0 = MONDAY + timedelta(seconds=start_s)
    duration = 36 * 3600
    segments = timeline(ps, t0, duration, ctx)
    assert segments[0].start == t0
    assert segments[-1].end == t0 + timedelta(seconds=duration)
    for a, b in itertools.pairwise(segments):
        assert a.end == b.start
        assert (a.limit.amps, a.limit.phases) != (b.limit.amps, b.limit.phases)
    rel = ctx.session_start or t0
    for probe in probes:
        t = t0 + timedelta(seconds=probe)
        seg = next(s for s in segments if s.start <= t < s.end)
        point = limit_at(ps, t, ctx, rel)
        assert (seg.limit.amps, seg.limit.phases) == (point.amps, point.phases)


@settings(max_examples=200, deadline=None)
@given(st.lists(profiles(), max_size=5), profiles("ChargePointMaxProfile"), contexts,
       st.integers(0, WEEK_S), st.integers(0, 24 * 3600))
def test_adding_a_top_station_cap_never_raises_the_limit(
        ps: list[ChargingProfile], cap: ChargingProfile, ctx: ConnectorContext,
        start_s: int, probe_s: int) -> None:
    ps = [p for p in ps if p.purpose is not Purpose.CHARGE_POINT_MAX]
    ctx = ConnectorContext(ctx.connector_id, ctx.hardware_max_a, ctx.phases, ctx.voltage_v,
                           ctx.session_start)  # fixed phases: the cap cannot change the phase count
    t = MONDAY + timedelta(seconds=start_s + probe_s)
    rel = ctx.session_start or MONDAY
    assert limit_at([*ps, cap], t, ctx, rel).amps <= limit_at(ps, t, ctx, rel).amps
