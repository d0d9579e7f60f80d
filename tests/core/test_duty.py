"""Duty-cycle math against the IEC 61851-1 table (vectors from docs/reference/hardware.md §8)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.core.duty import amps_to_duty, duty_for_limit, duty_to_amps, offerable_current


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(6, 10.0), (13, 21.67), (16, 26.67), (20, 33.33), (25, 41.67), (32, 53.33), (40, 66.67),
     (51, 85.0), (52.5, 85.0), (63, 89.2), (80, 96.0)],
)
def test_standard_vectors(amps, duty):
    assert amps_to_duty(amps) == pytest.approx(duty, abs=0.005)


def test_gap_between_51_and_52_5_is_lowered_to_51():
    assert offerable_current(51.5) == 51.0
    assert duty_for_limit(52.0) == (pytest.approx(85.0), 51.0)


def test_below_6_amps_offers_nothing():
    assert duty_for_limit(5.9) is None
    assert duty_for_limit(0) is None
    with pytest.raises(ValueError):
        amps_to_duty(5.0)


def test_above_80_is_capped():
    assert duty_for_limit(100) == (pytest.approx(96.0), 80.0)


@given(st.floats(min_value=0, max_value=200, allow_nan=False))
def test_duty_always_inside_the_table_and_never_above_the_limit(limit):
    result = duty_for_limit(limit)
    if limit < 6:
        assert result is None
        return
    assert result is not None
    duty, amps = result
    assert 10.0 - 1e-9 <= duty <= 96.0 + 1e-9
    assert amps <= limit + 1e-9
    assert duty_to_amps(duty) == pytest.approx(amps)
    assert not 51.0 < amps <= 52.5


@given(st.floats(min_value=6, max_value=80, allow_nan=False),
       st.sampled_from([0.0, 0.01, 0.1, 1.0]))
def test_coarse_generators_round_the_offer_down(limit, resolution):
    result = duty_for_limit(limit, resolution)
    if result is None:  # only possible when rounding drops below 10 %
        assert resolution > 0
        return
    duty, amps = result
    assert amps <= limit + 1e-9
    if resolution:
        assert abs(duty / resolution - round(duty / resolution)) < 1e-6


def test_one_percent_resolution_gives_15_6_amps_for_16():
    # gpiozero + lgpio: 26.67 % must become 26 % = 15.6 A, never 27 % (docs/reference/hardware.md §6.1)
    duty, amps = duty_for_limit(16, 1.0)  # type: ignore[misc]
    assert duty == 26.0
    assert amps == pytest.approx(15.6)
