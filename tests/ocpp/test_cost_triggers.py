"""The shared running-cost trigger parsing reads keys whatever case the `ocpp` library left them in."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from firmware.ocpp.common.cost_triggers import CostTriggers, field


def test_parse_reads_camel_case_keys_as_the_csms_sends_them() -> None:
    triggers = CostTriggers.parse({"atTime": "2026-01-01T10:00:00Z", "atEnergykWh": 5, "atPowerkW": 7.4,
                                   "atCPStatus": ["SuspendedEV", 3]})
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert triggers == CostTriggers(at, 5.0, 7.4, frozenset({"SuspendedEV"}))


def test_parse_reads_the_snake_case_keys_the_ocpp_library_makes_of_custom_data() -> None:
    triggers = CostTriggers.parse({"at_time": "2026-01-01T10:00:00Z", "at_energyk_wh": 5, "at_powerk_w": 7.4,
                                   "at_cp_status": ["Finishing"]})
    assert triggers == CostTriggers(datetime(2026, 1, 1, 10, tzinfo=UTC), 5.0, 7.4, frozenset({"Finishing"}))


@given(st.sampled_from(["atEnergykWh", "at_energyk_wh", "ATENERGYKWH", "at_energy_kwh"]), st.floats(0, 1e6))
def test_field_ignores_case_and_underscores(key: str, value: float) -> None:
    assert field({"other": 1, key: value}, "atEnergykWh") == value
    assert field({key: value}, "atPowerkW") is None
