"""The arbiter offers the minimum of every named limit and names the source."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.core.arbiter import CurrentArbiter, resolve

sources = st.dictionaries(
    st.sampled_from(["hardware", "cable", "configured", "temperature", "smart_charging",
                     "load_management", "demand_response", "external"]),
    st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1)


@given(sources)
def test_offer_never_exceeds_any_single_limit(limits):
    decision = resolve(limits)
    assert all(decision.amps <= v for v in limits.values())
    assert limits[decision.reason] == decision.amps


@given(sources, st.data())
def test_clearing_a_source_never_lowers_the_offer(limits, data):
    arbiter = CurrentArbiter(limits)
    before = arbiter.decide().amps
    victim = data.draw(st.sampled_from(sorted(limits)))
    if len(limits) > 1:
        arbiter.set(victim, None)
        assert arbiter.decide().amps >= before


def test_reason_names_the_lowest_source():
    arbiter = CurrentArbiter({"hardware": 32, "cable": 20})
    assert arbiter.decide().reason == "cable"
    arbiter.set("external", 10)
    assert (arbiter.decide().amps, arbiter.decide().reason) == (10, "external")
    assert arbiter.set("external", 10) is False
    assert arbiter.set("external", None) is True
    assert arbiter.decide().reason == "cable"


def test_invalid_limits_are_refused():
    arbiter = CurrentArbiter({"hardware": 32})
    with pytest.raises(ValueError):
        arbiter.set("x", -1)
    with pytest.raises(ValueError):
        arbiter.set("x", float("nan"))
    with pytest.raises(ValueError):
        resolve({})
