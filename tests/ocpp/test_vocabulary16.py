"""The 1.6 translation tables, table by table: every value of the core maps, each lands in the `ocpp`
library's 1.6 enum, and no two core values share a 1.6 value (the CSMS could not tell them apart)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, Reason

from firmware.core.authorization import AuthStatus
from firmware.core.vocabulary import FAULTS, ConnectorStatus, ErrorCode, Fault, StopReason
from firmware.ocpp.v16.vocabulary import AUTHORIZATION, ERROR_CODE, REASON, STATUS, auth_status

OUTGOING: list[tuple[Mapping[Any, Any], type[enum.Enum], Any]] = [
    (STATUS, ConnectorStatus, ChargePointStatus),
    (ERROR_CODE, ErrorCode, ChargePointErrorCode),
    (REASON, StopReason, Reason),
]


@pytest.mark.parametrize(("table", "core", "wire"), OUTGOING, ids=["status", "error_code", "reason"])
def test_every_core_value_maps_to_a_distinct_1_6_value(
        table: Mapping[Any, Any], core: type[enum.Enum], wire: Any) -> None:
    assert set(table) == set(core)
    assert all(isinstance(v, wire) for v in table.values())
    assert len(set(table.values())) == len(table)


def test_the_1_6_status_table_covers_every_chargepointstatus() -> None:
    assert set(STATUS.values()) == set(ChargePointStatus)


def test_the_stop_reason_table_covers_every_1_6_reason() -> None:
    assert set(REASON.values()) == set(Reason)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_reports_a_1_6_error_code(fault: Fault) -> None:
    assert ERROR_CODE[FAULTS[fault].error_code] is not ChargePointErrorCode.no_error


def test_every_1_6_authorization_status_maps_one_to_one() -> None:
    assert set(AUTHORIZATION) == set(AuthorizationStatus)
    assert set(AUTHORIZATION.values()) == set(AuthStatus)
    assert all(auth_status(s.value) is AUTHORIZATION[s] for s in AuthorizationStatus)


@given(st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_an_unknown_authorization_status_never_accepts(text: object) -> None:
    result = auth_status(text)
    if text != "Accepted":
        assert result is not AuthStatus.ACCEPTED
    if str(text) not in {s.value for s in AuthorizationStatus}:
        assert result is AuthStatus.INVALID
