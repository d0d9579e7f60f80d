"""Golden vectors: profile sets and the composite schedule they must produce.

Each case: profiles, the connector context, the query window, and the expected segments as
(offset from t0 in seconds, amps per phase, phases). `watts` cases also give the W values.
2026-01-05 is a Monday; all times UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from firmware.smart.engine import ConnectorContext
from firmware.smart.profiles import ChargingProfile
from tests.smart.helpers import at, profile


@dataclass
class Golden:
    name: str
    profiles: list[ChargingProfile]
    t0: datetime
    duration_s: int
    expected: list[tuple[int, float, int]]
    ctx: ConnectorContext = field(default_factory=lambda: ConnectorContext(1, hardware_max_a=32.0))
    watts: list[float] | None = None


def ctx(**kw: object) -> ConnectorContext:
    base: dict[str, object] = {"connector_id": 1, "hardware_max_a": 32.0}
    base.update(kw)
    return ConnectorContext(**base)  # type: ignore[arg-type]


H = 3600
T8 = at("2026-01-05T08:00")

GOLDEN: list[Golden] = [
    Golden("absolute A, three periods, last one above the hardware limit",
           [profile([(0, 16), (H, 10), (2 * H, 40)])], T8, 4 * H,
           [(0, 16, 3), (H, 10, 3), (2 * H, 32, 3)]),
    Golden("nothing installed: the hardware limit",
           [], T8, H, [(0, 32, 3)]),
    Golden("absolute starting later: hardware limit before it",
           [profile([(0, 8)], start="2026-01-05T09:00", duration_s=H)], T8, 3 * H,
           [(0, 32, 3), (H, 8, 3), (2 * H, 32, 3)]),
    Golden("W on 3 phases at 230 V: 11040 W = 16 A",
           [profile([(0, 11040), (H, 4140)], unit="W")], T8, 2 * H,
           [(0, 16, 3), (H, 6, 3)], watts=[11040, 4140]),
    Golden("W on a 1-phase connector: 3680 W = 16 A",
           [profile([(0, 3680)], unit="W")], T8, H,
           [(0, 16, 1)], ctx=ctx(phases=1), watts=[3680]),
    Golden("W with measured 240 V: 5760 W on 3 phases = 8 A",
           [profile([(0, 5760)], unit="W")], T8, H,
           [(0, 8, 3)], ctx=ctx(voltage_v=240.0), watts=[5760]),
    Golden("numberPhases 1 honoured when the connector can switch: 3680 W = 16 A on 1 phase",
           [profile([(0, 3680, 1), (H, 11040, 3)], unit="W")], T8, 2 * H,
           [(0, 16, 1), (H, 16, 3)], ctx=ctx(can_switch_phases=True), watts=[3680, 11040]),
    Golden("numberPhases 1 without a phase switch: the W limit is split over the 3 phases in use",
           [profile([(0, 4140, 1)], unit="W")], T8, H,
           [(0, 6, 3)], watts=[4140]),
    Golden("switchable connector: a power limit too low for 6 A on 3 phases charges on 1 phase",
           [profile([(0, 3000), (H, 4200)], unit="W")], T8, 2 * H,
           [(0, 13.043, 1), (H, 6.087, 3)], ctx=ctx(can_switch_phases=True), watts=[3000, 4200]),
    Golden("switchable connector: too low even for 1 phase stays on 3 phases (paused)",
           [profile([(0, 1000)], unit="W")], T8, H,
           [(0, 1.449, 3)], ctx=ctx(can_switch_phases=True)),
    Golden("A limit with numberPhases 1 keeps the amps, switches phases",
           [profile([(0, 20, 1)])], T8, H,
           [(0, 20, 1)], ctx=ctx(can_switch_phases=True), watts=[4600]),
    Golden("higher stack level wins while it runs, then the lower one takes over",
           [profile([(0, 16)], id=1, stack_level=0),
            profile([(0, 10)], id=2, stack_level=1, duration_s=H)], T8, 3 * H,
           [(0, 10, 3), (H, 16, 3)]),
    Golden("higher stack level wins even when it allows more",
           [profile([(0, 10)], id=1, stack_level=0),
            profile([(0, 20)], id=2, stack_level=3, start="2026-01-05T09:00")], T8, 2 * H,
           [(0, 10, 3), (H, 20, 3)]),
    Golden("TxProfile replaces TxDefault (even upwards); ChargePointMax caps both",
           [profile([(0, 6)], id=1, purpose="TxDefaultProfile", connector_id=0, stack_level=5),
            profile([(0, 20)], id=2, purpose="TxProfile", kind="Relative", start=None, transaction_id=7),
            profile([(0, 13)], id=3, purpose="ChargePointMaxProfile", connector_id=0,
                    start="2026-01-05T09:00")], T8, 2 * H,
           [(0, 20, 3), (H, 13, 3)], ctx=ctx(session_start=T8)),
    Golden("connector TxDefault replaces the station-wide TxDefault whatever the stack levels",
           [profile([(0, 10)], id=1, connector_id=0, stack_level=9),
            profile([(0, 25)], id=2, connector_id=1, stack_level=0, duration_s=H)], T8, 2 * H,
           [(0, 25, 3), (H, 10, 3)]),
    Golden("TxDefault of another connector does not apply",
           [profile([(0, 10)], id=1, connector_id=2)], T8, H, [(0, 32, 3)]),
    Golden("ChargePointMax in W shared by two charging connectors: 22080 W / 2 = 16 A each",
           [profile([(0, 22080)], purpose="ChargePointMaxProfile", connector_id=0, unit="W")], T8, H,
           [(0, 16, 3)], ctx=ctx(station_share=2)),
    Golden("relative profile counts from the session start",
           [profile([(0, 6), (H, 16)], kind="Relative", start=None)], T8, 2 * H,
           [(0, 6, 3), (1800, 16, 3)], ctx=ctx(session_start=at("2026-01-05T07:30"))),
    Golden("relative profile without a session counts from the query time",
           [profile([(0, 6), (H, 16)], kind="Relative", start=None, duration_s=2 * H)], T8, 3 * H,
           [(0, 6, 3), (H, 16, 3), (2 * H, 32, 3)]),
    Golden("limit 0 pauses, then resumes",
           [profile([(0, 0), (1800, 16)])], T8, H, [(0, 0, 3), (1800, 16, 3)]),
    Golden("validity edges: validFrom inclusive, validTo exclusive",
           [profile([(0, 10)], valid_from="2026-01-05T09:00", valid_to="2026-01-05T10:00")], T8, 3 * H,
           [(0, 32, 3), (H, 10, 3), (2 * H, 32, 3)]),
    Golden("expired before the window: no effect",
           [profile([(0, 10)], valid_to="2026-01-05T08:00")], T8, H, [(0, 32, 3)]),
    Golden("daily recurring across midnight (22:00-06:00, 8 A then 16 A from 02:00)",
           [profile([(0, 8), (4 * H, 16)], kind="Recurring", recurrency="Daily",
                    start="2026-01-04T22:00", duration_s=8 * H)],
           at("2026-01-05T21:00"), 10 * H,
           [(0, 32, 3), (H, 8, 3), (5 * H, 16, 3), (9 * H, 32, 3)]),
    Golden("daily recurring started in the future still repeats backwards (validFrom bounds it)",
           [profile([(0, 10)], kind="Recurring", recurrency="Daily", start="2026-01-09T12:00",
                    duration_s=H)], T8, 6 * H,
           [(0, 32, 3), (4 * H, 10, 3), (5 * H, 32, 3)]),
    Golden("daily recurring without duration: the last period lasts until the next day",
           [profile([(0, 10), (12 * H, 20)], kind="Recurring", recurrency="Daily",
                    start="2026-01-01T00:00")], at("2026-01-05T23:00"), 2 * H,
           [(0, 20, 3), (H, 10, 3)]),
    Golden("weekly recurring across the week boundary (Sunday 23:00 for 2 h)",
           [profile([(0, 10)], kind="Recurring", recurrency="Weekly", start="2026-01-04T23:00",
                    duration_s=2 * H)], at("2026-01-11T22:00"), 4 * H,
           [(0, 32, 3), (H, 10, 3), (3 * H, 32, 3)]),
    Golden("weekly recurring with a duration longer than a week is cut to the week",
           [profile([(0, 10), (7 * 24 * H - H, 20)], kind="Recurring", recurrency="Weekly",
                    start="2026-01-05T00:00", duration_s=8 * 24 * H)],
           at("2026-01-11T22:00"), 3 * H,
           [(0, 10, 3), (H, 20, 3), (2 * H, 10, 3)]),
    Golden("overlapping stack levels in three layers with gaps",
           [profile([(0, 30)], id=1, stack_level=0),
            profile([(0, 20)], id=2, stack_level=1, start="2026-01-05T09:00", duration_s=2 * H),
            profile([(0, 6)], id=3, stack_level=2, start="2026-01-05T09:30", duration_s=1800)],
           T8, 4 * H,
           [(0, 30, 3), (H, 20, 3), (5400, 6, 3), (2 * H, 20, 3), (3 * H, 30, 3)]),
    Golden("tied limits from different profiles merge into one segment",
           [profile([(0, 16)], id=1, stack_level=0),
            profile([(0, 16)], id=2, stack_level=1, start="2026-01-05T09:00", duration_s=H)],
           T8, 3 * H, [(0, 16, 3)]),
    Golden("ChargePointMax in A with a stacked lower level (connector 0 only)",
           [profile([(0, 20)], id=1, purpose="ChargePointMaxProfile", connector_id=0, stack_level=0),
            profile([(0, 10)], id=2, purpose="ChargePointMaxProfile", connector_id=0, stack_level=1,
                    duration_s=H)],
           T8, 2 * H, [(0, 10, 3), (H, 20, 3)]),
]
