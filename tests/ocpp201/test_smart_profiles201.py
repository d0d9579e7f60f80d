"""The 2.0.1 profile conversion and its checks under varied input (hypothesis): bad input is answered with a
reasonCode and never raises; whatever sequence of SetChargingProfile a CSMS sends, the installed set never
holds two profiles the stacking rules forbid (K01.FR.06/39/52/53), a refused one changes nothing, and an
installed profile reads back (ReportChargingProfiles) as the same profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.ocpp.v201.smart_charging import ProfileRules201, parse_profile, profile_payload
from firmware.smart import profile_set
from firmware.smart.profiles import ChargingProfile, Purpose

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
RULES = ProfileRules201({1: (3, False), 2: (1, False)}, max_stack_level=8, rate_units=("A", "W"),
                        max_periods=48)
RUNNING = {1: "tx-1", 2: "tx-2"}
CODES = {"UnknownEvse", "InvalidStackLevel", "InvalidProfile", "TxNotFound", "MissingParam",
         "InvalidSchedule", "UnsupportedRateUnit", "DuplicateProfile"}
WINDOWS = [(None, None), ("2030-07-01T00:00:00Z", None), (None, "2030-07-01T00:00:00Z"),
           ("2030-07-01T00:00:00Z", "2030-08-01T00:00:00Z"), ("2030-08-01T00:00:00Z", None)]


def request(id: int, stack: int, purpose: str, evse: int, window: int, tx: str | None, kind: str,
            unit: str, limit: float) -> tuple[int, dict[str, Any]]:
    valid_from, valid_to = WINDOWS[window]
    schedule: dict[str, Any] = {"id": id, "charging_rate_unit": unit,
                                "charging_schedule_period": [{"start_period": 0, "limit": limit}]}
    if kind != "Relative":
        schedule["start_schedule"] = "2030-06-01T00:00:00Z"
    body: dict[str, Any] = {"id": id, "stack_level": stack, "charging_profile_purpose": purpose,
                            "charging_profile_kind": kind, "charging_schedule": [schedule]}
    if kind == "Recurring":
        body["recurrency_kind"] = "Daily"
    for key, value in (("valid_from", valid_from), ("valid_to", valid_to), ("transaction_id", tx)):
        if value is not None:
            body[key] = value
    return evse, body


requests = st.builds(
    request, id=st.integers(1, 4), stack=st.integers(0, 2),
    purpose=st.sampled_from(["TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"]),
    evse=st.integers(0, 2), window=st.integers(0, len(WINDOWS) - 1),
    tx=st.sampled_from([None, "tx-1", "tx-2"]), kind=st.sampled_from(["Absolute", "Recurring", "Relative"]),
    unit=st.sampled_from(["A", "W"]), limit=st.floats(0, 100, allow_nan=False))


def parse(evse: Any, body: Any, installed: list[ChargingProfile]) -> tuple[ChargingProfile | None, str, str]:
    return parse_profile(evse, body, active_transaction=RUNNING.get, now=NOW, rules=RULES,
                         installed=installed)


def overlap(a: ChargingProfile, b: ChargingProfile) -> bool:
    return ((a.valid_from is None or b.valid_to is None or a.valid_from < b.valid_to)
            and (b.valid_from is None or a.valid_to is None or b.valid_from < a.valid_to))


def forbidden(a: ChargingProfile, b: ChargingProfile) -> bool:
    if a.id == b.id or a.purpose is not b.purpose or a.stack_level != b.stack_level:
        return False
    if a.purpose is Purpose.TX:
        return a.transaction_id == b.transaction_id
    if a.connector_id == b.connector_id:
        return overlap(a, b)
    return a.purpose is Purpose.TX_DEFAULT and (a.connector_id == 0 or b.connector_id == 0)


@settings(max_examples=150, deadline=None)
@given(st.lists(requests, max_size=12))
def test_no_sequence_of_requests_breaks_the_stacking_rules(
        sequence: list[tuple[int, dict[str, Any]]]) -> None:
    installed: list[ChargingProfile] = []
    for evse, body in sequence:
        profile, code, why = parse(evse, body, installed)
        if profile is None:
            assert code in CODES and why
            continue
        after, _ = profile_set.install(installed, profile, 32, replace_same_stack=False)
        assert after is not None
        assert [p for p in after if p.id == profile.id] == [profile]  # the same id replaced (K01.FR.05)
        assert {p.id for p in after} == {p.id for p in installed} | {profile.id}
        installed = after
        assert not any(forbidden(a, b) for a in installed for b in installed)
        # Reported back (ReportChargingProfiles) it is the same profile.
        again, code, _ = parse(profile.connector_id, profile_payload(profile), [])
        assert again == profile, code
    for p in installed:
        assert p.purpose is not Purpose.CHARGE_POINT_MAX or p.connector_id == 0  # K04.FR.03
        assert p.purpose is not Purpose.TX or (p.connector_id > 0
                                               and p.transaction_id == RUNNING[p.connector_id])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(requests, st.sampled_from(["id", "stack_level", "charging_profile_purpose", "charging_profile_kind",
                                  "charging_schedule", "valid_from", "valid_to", "transaction_id",
                                  "recurrency_kind"]),
       json_values, st.one_of(st.integers(-2, 3), json_values))
def test_malformed_input_is_answered_never_raised(req: tuple[int, dict[str, Any]], key: str, value: Any,
                                                  evse: Any) -> None:
    _, body = req
    profile, code, _ = parse(evse, {**body, key: value}, [])
    assert (profile is None) == bool(code)
    assert profile is not None or code in CODES
