"""OCPP 1.6 profile parsing: what real back ends send is accepted, invalid profiles get a clear reason."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from firmware.ocpp.v16.smart_profiles import composite_payload, configuration_keys, parse_set_charging_profile
from firmware.smart.engine import ConnectorContext, timeline
from firmware.smart.profile_set import ProfileRules, clear, install
from firmware.smart.profiles import ChargingProfile, Kind, Purpose, RateUnit
from tests.smart.helpers import at

NOW = at("2026-01-05T08:00")
RULES = ProfileRules(connector_ids=[1, 2], max_stack_level=5, max_periods=3, max_profiles=3)


def payload(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "charging_profile_id": 10, "stack_level": 1, "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {"charging_rate_unit": "A", "start_schedule": "2026-01-05T08:00:00Z",
                              "charging_schedule_period": [{"start_period": 0, "limit": Decimal("16.5")}]},
    }
    schedule = over.pop("schedule", {})
    base.update(over)
    base["charging_schedule"].update(schedule)
    return base


def parse(connector_id: int, data: dict[str, Any], tx: int | None = None,
          rules: ProfileRules = RULES) -> tuple[ChargingProfile | None, str]:
    return parse_set_charging_profile(connector_id, data, active_transaction_id=tx, now=NOW, rules=rules)


def test_decimal_limit_becomes_float() -> None:
    profile, reason = parse(1, payload())
    assert reason == "" and profile is not None
    assert profile.schedule.periods[0].limit == 16.5
    assert isinstance(profile.schedule.periods[0].limit, float)
    assert profile.schedule.start == at("2026-01-05T08:00")


def test_relative_charge_point_max_is_accepted_and_counts_from_receipt() -> None:
    # What e.g. the Home Assistant integration sends (docs/reference/ocpp-libraries.md §3.1).
    data = payload(charging_profile_purpose="ChargePointMaxProfile", charging_profile_kind="Relative",
                   schedule={"start_schedule": None})
    profile, reason = parse(0, data)
    assert profile is not None, reason
    assert profile.kind is Kind.ABSOLUTE and profile.schedule.start == NOW


def test_limit_zero_and_one_phase_are_accepted() -> None:
    data = payload(schedule={"charging_schedule_period": [
        {"start_period": 0, "limit": 0, "number_phases": 1}]})
    profile, _ = parse(1, data)
    assert profile is not None
    assert (profile.schedule.periods[0].limit, profile.schedule.periods[0].number_phases) == (0.0, 1)


def test_tx_profile_takes_the_active_transaction() -> None:
    profile, _ = parse(1, payload(charging_profile_purpose="TxProfile"), tx=42)
    assert profile is not None and profile.transaction_id == 42 and profile.purpose is Purpose.TX


REJECTIONS: list[tuple[str, int, dict[str, Any], int | None, str]] = [
    ("TxProfile without a transaction", 1, payload(charging_profile_purpose="TxProfile"), None,
     "no transaction is active"),
    ("TxProfile for another transaction", 1, payload(charging_profile_purpose="TxProfile", transaction_id=5),
     6, "transaction 6 is active"),
    ("TxProfile on connector 0", 0, payload(charging_profile_purpose="TxProfile"), 6, "connector id > 0"),
    ("ChargePointMax on a connector", 1, payload(charging_profile_purpose="ChargePointMaxProfile"), None,
     "only be set on connector 0"),
    ("unknown connector", 3, payload(), None, "connector 3 does not exist"),
    ("stack level too high", 1, payload(stack_level=6), None, "ChargeProfileMaxStackLevel"),
    ("too many periods", 1, payload(schedule={"charging_schedule_period": [
        {"start_period": i * 60, "limit": 10} for i in range(4)]}), None, "ChargingScheduleMaxPeriods"),
    ("first period not at 0", 1, payload(schedule={"charging_schedule_period": [
        {"start_period": 60, "limit": 10}]}), None, "startPeriod 0"),
    ("periods out of order", 1, payload(schedule={"charging_schedule_period": [
        {"start_period": 0, "limit": 10}, {"start_period": 0, "limit": 8}]}), None, "must increase"),
    ("negative limit", 1, payload(schedule={"charging_schedule_period": [
        {"start_period": 0, "limit": -1}]}), None, ">= 0"),
    ("bad unit", 1, payload(schedule={"charging_rate_unit": "kW"}), None, "A or W"),
    ("recurring without kind", 1, payload(charging_profile_kind="Recurring"), None, "recurrencyKind"),
    ("recurring without start", 1, payload(charging_profile_kind="Recurring", recurrency_kind="Daily",
                                          schedule={"start_schedule": None}), None, "startSchedule"),
    ("bad date", 1, payload(valid_from="yesterday"), None, "validFrom is not an RFC 3339"),
    ("validTo before validFrom", 1, payload(valid_from="2026-01-06T00:00:00Z",
                                            valid_to="2026-01-05T12:00:00Z"), None, "after validFrom"),
    ("expired", 1, payload(valid_to="2026-01-05T07:00:00Z"), None, "in the past"),
    ("unknown purpose", 1, payload(charging_profile_purpose="Max"), None, "ChargingProfilePurpose"),
    ("schedule missing", 1, {"charging_profile_id": 1, "stack_level": 0,
                             "charging_profile_purpose": "TxDefaultProfile",
                             "charging_profile_kind": "Absolute"}, None, "chargingSchedule is missing"),
    ("not an object", 1, "nonsense", None, "must be an object"),  # type: ignore[list-item]
    ("three phases as text", 1, payload(schedule={"charging_schedule_period": [
        {"start_period": 0, "limit": 10, "number_phases": "3"}]}), None, "integer"),
]


@pytest.mark.parametrize(("name", "connector", "data", "tx", "reason"), REJECTIONS,
                         ids=[r[0] for r in REJECTIONS])
def test_rejections_carry_a_reason(name: str, connector: int, data: Any, tx: int | None, reason: str) -> None:
    profile, why = parse(connector, copy.deepcopy(data), tx)
    assert profile is None
    assert reason in why


def test_unit_not_allowed_by_configuration() -> None:
    rules = ProfileRules(connector_ids=[1], allowed_units=("Current",))
    profile, why = parse(1, payload(schedule={"charging_rate_unit": "W"}), rules=rules)
    assert profile is None and "ChargingScheduleAllowedChargingRateUnit=Current" in why


def _p(id: int, stack: int, purpose: str = "TxDefaultProfile", connector: int = 1) -> ChargingProfile:
    profile, why = parse(connector if purpose != "ChargePointMaxProfile" else 0,
                         payload(charging_profile_id=id, stack_level=stack, charging_profile_purpose=purpose))
    assert profile is not None, why
    return profile


def test_install_replaces_same_id_and_same_stack_purpose_connector() -> None:
    a, b = _p(1, 0), _p(2, 1)
    profiles, _ = install([a, b], _p(1, 2), max_profiles=3)
    assert profiles is not None and sorted(p.id for p in profiles) == [1, 2]
    profiles, _ = install(profiles, _p(3, 1), max_profiles=3)  # replaces id 2 (stack 1, TxDefault, conn 1)
    assert profiles is not None and sorted(p.id for p in profiles) == [1, 3]
    profiles, _ = install(profiles, _p(4, 1, connector=2), max_profiles=3)  # other connector: kept apart
    assert profiles is not None and sorted(p.id for p in profiles) == [1, 3, 4]
    full, why = install(profiles, _p(5, 4), max_profiles=3)
    assert full is None and "MaxChargingProfilesInstalled=3" in why


def test_clear_filters() -> None:
    profiles = [_p(1, 0), _p(2, 1, connector=2), _p(3, 2, "ChargePointMaxProfile"), _p(4, 3)]
    kept, removed = clear(profiles, id=2, connector_id=1)  # an id wins over the other criteria
    assert [p.id for p in removed] == [2]
    kept, removed = clear(profiles, connector_id=1, stack_level=3)
    assert [p.id for p in removed] == [4]
    kept, removed = clear(profiles, purpose=Purpose.CHARGE_POINT_MAX)
    assert [p.id for p in removed] == [3]
    kept, removed = clear(profiles, connector_id=0)
    assert [p.id for p in removed] == [3]
    kept, removed = clear(profiles)
    assert kept == [] and len(removed) == 4
    kept, removed = clear(profiles, id=99)
    assert removed == [] and len(kept) == 4


def test_composite_payload_in_amps_and_watts() -> None:
    profile, _ = parse(1, payload(schedule={"charging_schedule_period": [
        {"start_period": 0, "limit": Decimal("16.5")}, {"start_period": 600, "limit": 7}]}))
    assert profile is not None
    ctx = ConnectorContext(1, hardware_max_a=32.0, phases=3, voltage_v=230.0)
    segments = timeline([profile], NOW, 1200, ctx)
    amps = composite_payload(1, NOW, 1200, segments, RateUnit.AMPS, ctx)
    assert amps == {
        "status": "Accepted", "connector_id": 1, "schedule_start": "2026-01-05T08:00:00Z",
        "charging_schedule": {"duration": 1200, "start_schedule": "2026-01-05T08:00:00Z",
                              "charging_rate_unit": "A", "charging_schedule_period": [
                                  {"start_period": 0, "limit": 16.5}, {"start_period": 600, "limit": 7.0}]},
    }
    watts = composite_payload(1, NOW, 1200, segments, RateUnit.WATTS, ctx)
    assert [p["limit"] for p in watts["charging_schedule"]["charging_schedule_period"]] == [11385.0, 4830.0]


def test_configuration_keys() -> None:
    assert configuration_keys(RULES) == {
        "ChargeProfileMaxStackLevel": "5", "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": "3", "MaxChargingProfilesInstalled": "3",
        "ConnectorSwitch3to1PhaseSupported": "false",
    }
