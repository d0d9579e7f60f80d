"""Ampere <-> PWM duty cycle per IEC 61851-1 (EVSE side), as quoted in docs/reference/hardware.md §1.2.

6 A <= I <= 51 A: D = I / 0.6 %;  51 A < I <= 80 A: D = I / 2.5 + 64 %.  The standard defines no duty for
51 A < I < 52.5 A ("weird gap in norm", EVerest Charger.cpp), so such an offer is lowered to 51 A.
Below 6 A nothing may be offered: the caller pauses with PWM off (x1).
"""

from __future__ import annotations

import math

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
GAP_LOW_A = 51.0
GAP_HIGH_A = 52.5


def offerable_current(amps: float) -> float | None:
    """The current that can really be signalled for a limit of `amps`: None below 6 A, capped at 80 A,
    lowered to 51 A inside the 51-52.5 A gap."""
    if math.isnan(amps) or amps < MIN_CURRENT_A:
        return None
    amps = min(amps, MAX_CURRENT_A)
    if GAP_LOW_A < amps <= GAP_HIGH_A:
        return GAP_LOW_A
    return amps


def amps_to_duty(amps: float) -> float:
    """Duty cycle in percent for an offerable current (6..80 A, not inside the gap)."""
    if amps < MIN_CURRENT_A or amps > MAX_CURRENT_A or GAP_LOW_A < amps < GAP_HIGH_A:
        raise ValueError(f"{amps} A cannot be signalled by PWM")
    if amps <= GAP_LOW_A:
        return amps / 0.6
    return amps / 2.5 + 64.0


def duty_to_amps(duty_percent: float) -> float:
    """Inverse of amps_to_duty on its range (10 %..96 %)."""
    if duty_percent <= 85.0:
        return duty_percent * 0.6
    return (duty_percent - 64.0) * 2.5


def duty_for_limit(limit_a: float, resolution_percent: float = 0.0) -> tuple[float, float] | None:
    """(duty %, offered A) for a limit, rounded DOWN to what a generator of the given duty resolution
    can produce, so the EV is never offered more than the limit. None when below 6 A."""
    amps = offerable_current(limit_a)
    if amps is None:
        return None
    duty = amps_to_duty(amps)
    if resolution_percent > 0:
        steps = math.floor(duty / resolution_percent + 1e-9)
        duty = steps * resolution_percent
        if duty < amps_to_duty(MIN_CURRENT_A) - 1e-9:
            return None
        amps = duty_to_amps(duty)
    return duty, amps
