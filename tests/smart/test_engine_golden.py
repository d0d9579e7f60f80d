"""The engine reproduces every golden vector, in A and (where given) in W."""

from __future__ import annotations

from datetime import timedelta

import pytest

from firmware.smart.engine import limit_at, timeline
from tests.smart.golden_vectors import GOLDEN, Golden


@pytest.mark.parametrize("case", GOLDEN, ids=[g.name for g in GOLDEN])
def test_golden_timeline(case: Golden) -> None:
    segments = timeline(case.profiles, case.t0, case.duration_s, case.ctx)
    got = [(round((s.start - case.t0).total_seconds()), round(s.limit.amps, 3), s.limit.phases)
           for s in segments]
    assert got == [(o, float(a), p) for o, a, p in case.expected]
    assert segments[-1].end == case.t0 + timedelta(seconds=case.duration_s)
    if case.watts is not None:
        assert [round(s.limit.watts(case.ctx), 3) for s in segments] == [float(w) for w in case.watts]


@pytest.mark.parametrize("case", GOLDEN, ids=[g.name for g in GOLDEN])
def test_limit_at_agrees_with_timeline(case: Golden) -> None:
    relative_start = case.ctx.session_start or case.t0
    for offset, amps, phases in case.expected:
        when = case.t0 + timedelta(seconds=offset)
        limit = limit_at(case.profiles, when, case.ctx, relative_start)
        assert (round(limit.amps, 3), limit.phases) == (float(amps), phases)
        just_before = limit_at(case.profiles, when + timedelta(seconds=-1), case.ctx, relative_start)
        if offset > 0:
            assert (round(just_before.amps, 3), just_before.phases) != (float(amps), phases)


def test_until_switched_a_power_limit_holds_on_the_phases_in_use() -> None:
    from firmware.smart.engine import ConnectorContext
    from tests.smart.helpers import at, profile

    ctx = ConnectorContext(1, hardware_max_a=32.0, phases=3, can_switch_phases=True)
    limit = limit_at([profile([(0, 3000)], unit="W")], at("2026-01-05T08:00"), ctx)
    assert (limit.phases, round(limit.amps, 3)) == (1, 13.043)  # the plan: one phase
    assert round(limit.amps_now, 3) == 4.348  # still on three phases: 3000 W / 690 V, which pauses
