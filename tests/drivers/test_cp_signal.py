"""CP band classification (chargebyte vectors, docs/reference/hardware.md §1.3), diode/short checks, PP
bands, duty maths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.pilot.signal import (
    classify_peak,
    combine,
    cp_short,
    diode_fault,
    divider_resistance,
    duty_to_ns,
    ns_to_duty,
    pp_ampacity,
    round_duty_down,
)
from hal.types import PILOT_HIGH, PILOT_OFF, CableAmpacity, CPState, PilotOutput

S = CPState


@pytest.mark.parametrize(
    ("millivolts", "previous", "state"),
    [  # chargebyte tests/utils/cp/unittest-voltage_to_state.cpp vectors
        (13001, S.A, S.INVALID),
        (13000, S.A, S.A),
        (10000, S.A, S.A),
        (10000, S.B, S.B),
        (8000, S.A, S.B),
        (7000, S.C, S.C),
        (7000, S.B, S.B),
        (1999, S.A, S.E),
        (-1001, S.F, S.INVALID),
        (-1001, S.C, S.E),
        (-10001, S.F, S.F),
        (-11000, S.E, S.INVALID),
        (-13001, S.F, S.INVALID),
        (-12000, S.A, S.F),
        (9000, S.C, S.B),
        (6000, S.A, S.C),
        (3000, S.A, S.D),
        (4500, S.D, S.D),
        (4500, S.C, S.C),
        (0, S.A, S.E),
        (-5000, S.A, S.INVALID),
    ],
)
def test_band_table(millivolts: int, previous: CPState, state: CPState) -> None:
    assert classify_peak(millivolts / 1000, previous) == state


HYSTERESIS = [(10.0, 11.0), (7.0, 8.0), (4.0, 5.0), (-2.0, -1.0), (-11.0, -10.0)]


@given(st.floats(-20, 20, allow_nan=False), st.sampled_from(list(CPState)))
def test_classification_is_stable_and_only_zones_depend_on_history(volts: float, previous: CPState) -> None:
    state = classify_peak(volts, previous)
    assert classify_peak(volts, state) == state  # repeating a measurement never flips the state
    if not any(lo <= volts < hi for lo, hi in HYSTERESIS):
        assert state == classify_peak(volts, CPState.A) == classify_peak(volts, CPState.F)


def test_combination_rules() -> None:
    assert combine(S.B, S.F) == S.B
    assert combine(S.E, S.E) == S.E
    assert combine(S.E, S.F) == S.F
    assert combine(S.INVALID, S.F) == S.INVALID
    assert combine(S.C, S.INVALID) == S.INVALID


def test_diode_and_short_checks() -> None:
    pwm = PilotOutput.pwm(26.7)
    assert diode_fault(pwm, 9.0, -9.2)  # negative half mirrors the positive one
    assert not diode_fault(pwm, 9.0, -12.0)
    assert not diode_fault(PILOT_HIGH, 9.0, 9.0)  # no PWM: nothing to check
    assert cp_short(pwm, 0.3, -0.4)
    assert cp_short(PILOT_HIGH, 0.5, 0.5)
    assert not cp_short(PILOT_HIGH, 0.5, -12.0)  # -12 V seen while driving high is not a short
    assert not cp_short(PILOT_OFF, 0.0, 0.0)
    assert not cp_short(pwm, 6.0, -12.0)


@pytest.mark.parametrize(
    ("ohms", "rating", "fault"),
    [
        (1500, CableAmpacity.A13, False),
        (680, CableAmpacity.A20, False),
        (220, CableAmpacity.A32, False),
        (100, CableAmpacity.A63, False),
        (1100, CableAmpacity.A13, False),
        (2460, CableAmpacity.A13, False),
        (1000, CableAmpacity.A13, False),  # gap 936..1100 -> the lower rating
        (350, CableAmpacity.A20, False),  # gap 308..400
        (150, CableAmpacity.A32, False),  # gap 140..164
        (59, CableAmpacity.NONE, True),
        (4600, CableAmpacity.NONE, False),
        (None, CableAmpacity.NONE, False),
    ],
)
def test_pp_bands(ohms: float | None, rating: CableAmpacity, fault: bool) -> None:
    assert pp_ampacity(ohms) == (rating, fault)


@given(st.floats(60, 4500), st.floats(60, 4500))
def test_pp_rating_never_rises_with_resistance(r1: float, r2: float) -> None:
    low, high = sorted((r1, r2))
    assert pp_ampacity(low)[0] >= pp_ampacity(high)[0]


def test_divider() -> None:
    assert divider_resistance(3.3, 3.3, 1000) is None
    assert divider_resistance(1.65, 3.3, 1000) == pytest.approx(1000)


@given(st.floats(0, 100))
def test_duty_ns_never_above_request(duty: float) -> None:
    ns = duty_to_ns(duty)
    assert ns_to_duty(ns) <= duty + 1e-9
    assert duty - ns_to_duty(ns) < 0.0002


def test_duty_ns_examples() -> None:
    assert duty_to_ns(10.0) == 100_000  # 6 A (PiHat example)
    assert duty_to_ns(16 / 0.6) == 266_666
    assert duty_to_ns(100.0) == 1_000_000
    with pytest.raises(ValueError):
        duty_to_ns(100.5)


@given(st.floats(0, 100), st.sampled_from([0.0, 0.5, 1.0, 0.1]))
def test_round_down(duty: float, resolution: float) -> None:
    rounded = round_duty_down(duty, resolution)
    assert rounded <= duty + 1e-9
    assert duty - rounded < max(resolution, 1e-9) + 1e-9
