"""The EV-side reading of the PWM duty (docs/reference/hardware.md §1.2 Fluke FEV300 table, §8 vectors)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.fake.ev_side import duty_to_ev_current


@pytest.mark.parametrize(("duty", "amps"), [
    (8.0, 6.0), (9.9, 6.0), (10.0, 6.0), (26.67, 16.002), (85.0, 51.0), (85.1, 52.75), (89.2, 63.0),
    (96.0, 80.0), (96.5, 80.0), (97.0, 80.0),
])
def test_vectors_with_current(duty: float, amps: float) -> None:
    assert duty_to_ev_current(duty) == pytest.approx(amps)


@pytest.mark.parametrize("duty", [0.0, 2.9, 3.0, 5.0, 7.0, 7.5, 7.99, 97.5, 100.0])
def test_vectors_without_basic_charging(duty: float) -> None:
    assert duty_to_ev_current(duty) is None


@given(st.floats(min_value=6.0, max_value=51.0))
def test_evse_duty_of_the_low_range_reads_back_as_the_same_current(amps: float) -> None:
    assert duty_to_ev_current(amps / 0.6) == pytest.approx(amps)


@given(st.floats(min_value=52.51, max_value=80.0))
def test_evse_duty_of_the_high_range_reads_back_as_the_same_current(amps: float) -> None:
    # 52.5 A itself is 85 %, which the EV table reads with the low formula as 51 A
    # (docs/reference/hardware.md §1.2).
    assert duty_to_ev_current(amps / 2.5 + 64.0) == pytest.approx(amps)


@given(st.floats(min_value=-10.0, max_value=110.0), st.floats(min_value=-10.0, max_value=110.0))
def test_allowed_current_is_within_6_to_80_a_and_never_falls_as_duty_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    amps_low, amps_high = duty_to_ev_current(low), duty_to_ev_current(high)
    for amps in (amps_low, amps_high):
        assert amps is None or 6.0 <= amps <= 80.0
    if amps_low is not None and amps_high is not None:
        assert amps_low <= amps_high
