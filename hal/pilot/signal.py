"""Pure control-pilot and proximity-pilot maths: band classification with hysteresis, diode and short
checks, PP resistance to cable rating, duty cycle to PWM nanoseconds. No I/O here."""

from __future__ import annotations

import math

from hal.types import CableAmpacity, CPState, PilotOutput, PilotOutputMode

PWM_PERIOD_NS = 1_000_000  # 1 kHz (docs/reference/hardware.md §1.1)

# chargebyte CPUtils.cpp "CP_ERROR_VOLTAGE_MAX_DIFF" (docs/reference/hardware.md §1.3).
DIODE_MAX_DIFF_V = 1.2
# Below this positive peak nothing is loading the pilot like a car does (CP_STATE_D_LOWER_THRESHOLD).
STATE_D_LOWER_V = 2.0

_POSITIVE = (CPState.A, CPState.B, CPState.C, CPState.D, CPState.E)


def classify_peak(volts: float, previous: CPState) -> CPState:
    """One CP peak voltage -> state, with the hysteresis zones of docs/reference/hardware.md §1.3 (chargebyte
    `voltage_to_state`, "mostly based on IEC 61851-1 Table A.4"). `previous` resolves the zones."""
    if volts > 13.0:
        return CPState.INVALID
    if volts >= 11.0:
        return CPState.A
    if volts >= 10.0:
        return CPState.A if previous == CPState.A else CPState.B
    if volts >= 8.0:
        return CPState.B
    if volts >= 7.0:
        return CPState.B if previous in (CPState.A, CPState.B) else CPState.C
    if volts >= 5.0:
        return CPState.C
    if volts >= 4.0:
        return CPState.C if previous in (CPState.A, CPState.B, CPState.C) else CPState.D
    if volts >= STATE_D_LOWER_V:
        return CPState.D
    if volts >= -1.0:
        return CPState.E
    if volts >= -2.0:
        return CPState.E if previous in _POSITIVE else CPState.INVALID
    if volts >= -10.0:
        return CPState.INVALID
    if volts >= -11.0:
        return CPState.F if previous == CPState.F else CPState.INVALID
    if volts >= -13.0:
        return CPState.F
    return CPState.INVALID


def pwm_is_nominal(output: PilotOutput) -> bool:
    """True while a real PWM (0 < duty < 100) is on the line, i.e. the negative half carries information."""
    return output.mode == PilotOutputMode.PWM and 0.0 < output.duty_percent < 100.0


def diode_fault(output: PilotOutput, positive_v: float, negative_v: float) -> bool:
    """docs/reference/hardware.md §1.3: with nominal PWM, a loaded pilot whose negative half mirrors the
    positive one means the EV's diode is missing or shorted. Only meaningful with a car (B/C/D): with none the
    +/-12 V halves are symmetrical by design."""
    return (
        pwm_is_nominal(output)
        and positive_v > STATE_D_LOWER_V
        and abs(positive_v + negative_v) <= DIODE_MAX_DIFF_V
    )


def cp_short(output: PilotOutput, positive_v: float, negative_v: float) -> bool:
    """The pilot is held near 0 V although we drive it (chargebyte CPUtils,
    docs/reference/hardware.md §1.3)."""
    if output.mode == PilotOutputMode.OFF or positive_v >= STATE_D_LOWER_V:
        return False
    if pwm_is_nominal(output):
        return abs(positive_v + negative_v) <= DIODE_MAX_DIFF_V
    return negative_v > -10.0


def combine(positive: CPState, negative: CPState) -> CPState:
    """Both peak classifications -> one state (chargebyte `determine_cp_state`,
    docs/reference/hardware.md §1.3)."""
    if CPState.INVALID in (positive, negative):
        return CPState.INVALID
    if positive == CPState.E and negative == CPState.F:
        return CPState.F
    return positive


def duty_to_ns(duty_percent: float, period_ns: int = PWM_PERIOD_NS) -> int:
    """Duty in percent -> high time in ns, rounded down so the offered current is never above the request."""
    if not 0.0 <= duty_percent <= 100.0:
        raise ValueError(f"duty {duty_percent} % outside 0..100")
    return min(period_ns, math.floor(period_ns * duty_percent / 100.0 + 1e-6))


def ns_to_duty(duty_ns: int, period_ns: int = PWM_PERIOD_NS) -> float:
    return 100.0 * duty_ns / period_ns


def round_duty_down(duty_percent: float, resolution_percent: float) -> float:
    """The largest duty the generator can make that is not above `duty_percent` (current never rounds up)."""
    if resolution_percent <= 0.0:
        return duty_percent
    steps = math.floor(duty_percent / resolution_percent + 1e-9)
    return round(steps * resolution_percent, 9)


# Type 2 cable coding resistor bands, min/max ohms (docs/reference/hardware.md §3, EVerest basic.rst).
PP_MIN_OHM = 60.0
PP_MAX_OHM = 4500.0
_PP_BANDS: tuple[tuple[float, CableAmpacity], ...] = (
    # (upper edge of the band or of the gap above it, rating); gaps take the lower rating.
    (140.0, CableAmpacity.A63),
    (308.0, CableAmpacity.A32),
    (936.0, CableAmpacity.A20),
)


def pp_ampacity(resistance_ohm: float | None) -> tuple[CableAmpacity, bool]:
    """PP resistance -> (cable rating, fault). Open circuit (None or > 4.5 kOhm) = no cable, no fault;
    below 60 Ohm = fault. Values between bands get the lower rating (docs/reference/hardware.md §3)."""
    if resistance_ohm is None or resistance_ohm > PP_MAX_OHM:
        return CableAmpacity.NONE, False
    if resistance_ohm < PP_MIN_OHM:
        return CableAmpacity.NONE, True
    for upper, rating in _PP_BANDS:
        if resistance_ohm <= upper:
            return rating, False
    return CableAmpacity.A13, False


def divider_resistance(adc_v: float, supply_v: float, pull_up_ohm: float) -> float | None:
    """PP pull-up divider: measured voltage -> resistance PP-PE; None when open (at the supply)."""
    if adc_v >= supply_v * 0.995:
        return None
    return pull_up_ohm * max(adc_v, 0.0) / (supply_v - adc_v)
