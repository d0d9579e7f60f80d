"""The 2.0.1 fault table (firmware/ocpp/v201/faults.py), table by table: every fault names a variable of
this charger's device model at the right level, the one live.py reads true while the fault is active,
and its event data is a valid NotifyEvent entry (the `ocpp` library's schema)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import ocpp.v201
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import snake_to_camel_case

from firmware.core.vocabulary import FAULTS, Fault
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.device_model.definitions import load_components
from firmware.ocpp.v201.device_model.keys import ComponentKey, VariableKey
from firmware.ocpp.v201.faults import FAULT_EVENTS, fault_event
from firmware.ocpp.v201.live import LiveValues

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEMA = json.loads((Path(ocpp.v201.__file__).parent / "schemas/NotifyEventRequest.json").read_text())
COMPONENTS = {c.name: c for c in load_components()}

EXPECTED = {
    Fault.DIODE: ("EVSE", "Problem"), Fault.CP_SHORT: ("EVSE", "Problem"),
    Fault.PILOT_OUT_OF_RANGE: ("EVSE", "Problem"), Fault.VENTILATION: ("EVSE", "Problem"),
    Fault.RCD_TRIP: ("RCD", "Tripped"), Fault.RCD_SELFTEST: ("EVSE", "Problem"),
    Fault.CONTACTOR_WELDED: ("PowerContactor", "Problem"),
    Fault.CONTACTOR_FEEDBACK: ("PowerContactor", "Problem"),
    Fault.LOCK: ("ConnectorPlugRetentionLock", "Problem"), Fault.OVER_TEMPERATURE: ("EVSE", "Problem"),
    Fault.OVER_CURRENT: ("EVSE", "Problem"), Fault.PP: ("EVSE", "Problem"),
    Fault.METER_OFFLINE: ("EVSE", "Problem"), Fault.EMERGENCY_STOP: ("EVSE", "Problem"),
    Fault.READER: ("EVSE", "Problem"),
}


def test_every_fault_has_its_event_variable() -> None:
    assert {f: (v.component, v.variable) for f, v in FAULT_EVENTS.items()} == EXPECTED
    assert set(FAULT_EVENTS) == set(Fault)


@pytest.mark.parametrize("fault", list(Fault))
def test_the_variable_is_in_the_device_model_at_the_level_it_is_addressed(fault: Fault) -> None:
    where = FAULT_EVENTS[fault]
    component = COMPONENTS[where.component]
    assert where.variable in {v.name for v in component.variables}
    assert component.scope == ("connector" if where.on_connector else "evse")


def _doc(faults: set[Fault]) -> dict[str, Any]:
    connector = {"id": 1, "state": "faulted", "faults": sorted(f.value for f in faults), "meter": {},
                 "contactor": {"closed": False}, "cp_state": "B", "temperature_c": None, "lock": "unlocked"}
    return {"time": "x", "station": {"emergency_stop": False}, "connectors": [connector]}


def _live(faults: set[Fault], fault: Fault) -> str:
    where = FAULT_EVENTS[fault]
    key = VariableKey(ComponentKey(where.component, evse=1, connector=1 if where.on_connector else None),
                      where.variable)
    return LiveValues(lambda: _doc(faults), {})(key)


@pytest.mark.parametrize("fault", list(Fault))
def test_the_event_reports_what_the_device_model_reads(fault: Fault) -> None:
    assert _live({fault}, fault) == "true" == fault_event(fault, True, 1, 7, WHEN)["actual_value"]
    assert _live(set(), fault) == "false" == fault_event(fault, False, 1, 8, WHEN)["actual_value"]


@pytest.mark.parametrize("fault", list(Fault))
def test_the_event_data_is_a_valid_notify_event(fault: Fault) -> None:
    for active in (True, False):
        data = fault_event(fault, active, 2, 41, WHEN)
        jsonschema.validate({"generatedAt": "2026-03-01T12:00:00Z", "seqNo": 0,
                             "eventData": [snake_to_camel_case(data)]}, SCHEMA)
        assert (data["trigger"], data["event_notification_type"]) == ("Alerting", "HardWiredNotification")
        assert data["tech_code"] == FAULTS[fault].vendor_code and data["tech_info"].startswith(fault.value)
        assert data["component"]["evse"]["id"] == 2 and data["timestamp"] == rfc3339(WHEN)
        assert data.get("cleared", False) is not active


@given(st.sampled_from(list(Fault)), st.sets(st.sampled_from(list(Fault))))
def test_a_cleared_fault_leaves_the_variable_true_while_another_shows_on_it(
        fault: Fault, others: set[Fault]) -> None:
    data = fault_event(fault, False, 1, 1, WHEN, others)
    remaining = others - {fault}
    assert data["actual_value"] == _live(remaining, fault)
    assert ("cleared" in data) is (data["actual_value"] == "false")
