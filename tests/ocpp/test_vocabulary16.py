"""The 1.6 translation tables, table by table: every value of the core maps, each lands in the `ocpp`
library's 1.6 enum, the tables are the ones the charger has always sent (so a 1.6 CSMS sees no change),
and a change of the core's leading fault that 1.6 cannot tell apart sends nothing."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, Reason

from firmware.core.authorization import AuthStatus
from firmware.core.events import StatusChanged
from firmware.core.published import error_label, status_label
from firmware.core.vocabulary import FAULTS, ConnectorState, Fault, StopReason
from firmware.ocpp.v16.vocabulary import (
    AUTHORIZATION,
    ERROR_CODE,
    REASON,
    STATUS,
    StatusChanges16,
    auth_status,
    error_code,
    notification,
)

OUTGOING: list[tuple[Mapping[Any, Any], type[enum.Enum], Any]] = [
    (STATUS, ConnectorState, ChargePointStatus),
    (REASON, StopReason, Reason),
]
# Core values 1.6 has no word for, sent as another one's (a master pass is a card stopping at the charger).
SHARED_IN_1_6 = {StopReason.MASTER_PASS: Reason.local}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)

# What the charger sent before the core spoke its own words (ErrorCode of FAULTS, then the 1.6 table).
ERROR_CODES_SENT = {
    Fault.DIODE: "EVCommunicationError", Fault.CP_SHORT: "EVCommunicationError",
    Fault.PILOT_OUT_OF_RANGE: "OtherError", Fault.VENTILATION: "OtherError",
    Fault.RCD_TRIP: "GroundFailure", Fault.RCD_SELFTEST: "GroundFailure",
    Fault.CONTACTOR_WELDED: "PowerSwitchFailure", Fault.CONTACTOR_FEEDBACK: "PowerSwitchFailure",
    Fault.LOCK: "ConnectorLockFailure", Fault.OVER_TEMPERATURE: "HighTemperature",
    Fault.OVER_CURRENT: "OverCurrentFailure", Fault.PP: "OtherError",
    Fault.METER_OFFLINE: "PowerMeterFailure", Fault.EMERGENCY_STOP: "OtherError",
    Fault.READER: "ReaderFailure",
}
STATUSES_SENT = {
    ConnectorState.AVAILABLE: "Available", ConnectorState.PREPARING: "Preparing",
    ConnectorState.CHARGING: "Charging", ConnectorState.SUSPENDED_EV: "SuspendedEV",
    ConnectorState.SUSPENDED_EVSE: "SuspendedEVSE", ConnectorState.FINISHING: "Finishing",
    ConnectorState.RESERVED: "Reserved", ConnectorState.UNAVAILABLE: "Unavailable",
    ConnectorState.FAULTED: "Faulted",
}


@pytest.mark.parametrize(("table", "core", "wire"), OUTGOING, ids=["status", "reason"])
def test_every_core_value_maps_to_a_distinct_1_6_value(
        table: Mapping[Any, Any], core: type[enum.Enum], wire: Any) -> None:
    assert set(table) == set(core)
    assert all(isinstance(v, wire) for v in table.values())
    distinct = {k: v for k, v in table.items() if k not in SHARED_IN_1_6}
    assert len(set(distinct.values())) == len(distinct)
    assert all(table[k] == v for k, v in SHARED_IN_1_6.items() if k in table)


def test_the_1_6_status_table_covers_every_chargepointstatus() -> None:
    assert set(STATUS.values()) == set(ChargePointStatus)


def test_the_1_6_status_table_is_what_was_always_sent() -> None:
    assert {state: status.value for state, status in STATUS.items()} == STATUSES_SENT
    # ... and what the status document shows (its spelling predates the neutral states)
    assert {state: status_label(state) for state in ConnectorState} == STATUSES_SENT


def test_the_stop_reason_table_covers_every_1_6_reason() -> None:
    assert set(REASON.values()) == set(Reason)
    # session records keep 1.6's spelling (a reason 1.6 lacks keeps its own)
    assert all(REASON[r].value == r.value for r in StopReason if r not in SHARED_IN_1_6)


def test_every_fault_maps_to_the_error_code_it_always_sent() -> None:
    assert set(ERROR_CODE) == set(Fault)
    assert all(isinstance(v, ChargePointErrorCode) for v in ERROR_CODE.values())
    assert {fault: code.value for fault, code in ERROR_CODE.items()} == ERROR_CODES_SENT
    assert {fault: error_label(fault) for fault in Fault} == ERROR_CODES_SENT
    assert error_code(None) is ChargePointErrorCode.no_error and error_label(None) == "NoError"


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_reports_a_1_6_error_code(fault: Fault) -> None:
    assert ERROR_CODE[fault] is not ChargePointErrorCode.no_error


@pytest.mark.parametrize("fault", [None, *Fault])
@pytest.mark.parametrize("state", list(ConnectorState))
def test_a_status_change_becomes_one_status_notification(state: ConnectorState, fault: Fault | None) -> None:
    sent = notification(StatusChanged(3, state, fault, "info", WHEN))
    assert (sent.connector_id, sent.status, sent.error_code) == (3, STATUS[state], error_code(fault))
    assert sent.vendor_error_code == (FAULTS[fault].vendor_code if fault else None)
    assert (sent.info, sent.timestamp) == ("info", WHEN)


def test_a_new_leading_fault_with_the_same_error_code_sends_nothing() -> None:
    changes = StatusChanges16()
    faulted = ConnectorState.FAULTED
    assert changes.visible(StatusChanged(1, faulted, Fault.DIODE, "diode", WHEN))
    assert not changes.visible(StatusChanged(1, faulted, Fault.CP_SHORT, "cp-short", WHEN))  # both EVComm
    assert changes.visible(StatusChanged(2, faulted, Fault.CP_SHORT, "cp-short", WHEN))  # other connector
    assert changes.visible(StatusChanged(1, faulted, Fault.PILOT_OUT_OF_RANGE, "range", WHEN))  # OtherError
    assert changes.visible(StatusChanged(1, ConnectorState.AVAILABLE, None, None, WHEN))


@given(st.lists(st.tuples(st.sampled_from(list(ConnectorState)), st.sampled_from([None, *Fault])),
                max_size=30))
def test_status_changes_in_1_6_terms(reports: list[tuple[ConnectorState, Fault | None]]) -> None:
    """Fed what the core publishes (each report differs from the one before), exactly the reports whose
    (status, errorCode) differs from the last one go out, as when the core deduplicated 1.6 codes itself."""
    changes, last = StatusChanges16(), None
    published = [r for i, r in enumerate(reports) if i == 0 or r != reports[i - 1]]
    for state, fault in published:
        wire = (STATUS[state], error_code(fault))
        assert changes.visible(StatusChanged(1, state, fault, None, WHEN)) is (wire != last)
        last = wire


def test_every_1_6_authorization_status_maps_one_to_one() -> None:
    assert set(AUTHORIZATION) == set(AuthorizationStatus)
    assert set(AUTHORIZATION.values()) == set(AuthStatus)
    assert all(auth_status(s.value) is AUTHORIZATION[s] for s in AuthorizationStatus)
    assert all(AUTHORIZATION[s].value == s.value for s in AuthorizationStatus)  # round trip by name


@given(st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_an_unknown_authorization_status_never_accepts(text: object) -> None:
    result = auth_status(text)
    if text != "Accepted":
        assert result is not AuthStatus.ACCEPTED
    if str(text) not in {s.value for s in AuthorizationStatus}:
        assert result is AuthStatus.INVALID
