"""The full inventory checked against OCPP 2.0.1's required-variable table, the way TC_B_53 checks it
(docs/reference/ocpp201.md §2.1-2.2): every required component/variable is there, every list type has a
non-empty valuesList and a value inside it, and no WriteOnly value is reported."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from firmware.ocpp.v201.device_model.reports import base_report, report_data
from tests.ocpp201 import dm_fixtures

# (component, variable, variable instance): "Required? = yes" in the Part 2 appendices' dm_components_vars.csv
# for the functional blocks this charger implements (Core controllers, Local Authorization List, Smart
# Charging), plus the four RetryBackOff/WebSocketPingInterval variables OCPP-J (Part 4 §8) requires.
STATION_REQUIRED = [
    ("OCPPCommCtrlr", "FileTransferProtocols", None),
    ("OCPPCommCtrlr", "MessageTimeout", "Default"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", None),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", None),
    ("OCPPCommCtrlr", "OfflineThreshold", None),
    ("OCPPCommCtrlr", "ResetRetries", None),
    ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None),
    ("OCPPCommCtrlr", "RetryBackOffRepeatTimes", None),
    ("OCPPCommCtrlr", "RetryBackOffRandomRange", None),
    ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", None),
    ("OCPPCommCtrlr", "WebSocketPingInterval", None),
    ("SecurityCtrlr", "SecurityProfile", None),
    ("SecurityCtrlr", "OrganizationName", None),
    ("SecurityCtrlr", "CertificateEntries", None),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetReport"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", "BytesPerMessage", "SetVariables"),
    ("ClockCtrlr", "DateTime", None),
    ("ClockCtrlr", "TimeSource", None),
    ("TxCtrlr", "TxStartPoint", None),
    ("TxCtrlr", "TxStopPoint", None),
    ("TxCtrlr", "EVConnectionTimeOut", None),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", None),
    ("TxCtrlr", "StopTxOnInvalidId", None),
    ("SampledDataCtrlr", "TxStartedMeasurands", None),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None),
    ("SampledDataCtrlr", "TxEndedMeasurands", None),
    ("SampledDataCtrlr", "TxUpdatedInterval", None),
    ("SampledDataCtrlr", "TxEndedInterval", None),
    ("AlignedDataCtrlr", "Measurands", None),
    ("AlignedDataCtrlr", "Interval", None),
    ("AlignedDataCtrlr", "TxEndedMeasurands", None),
    ("AlignedDataCtrlr", "TxEndedInterval", None),
    ("AuthCtrlr", "AuthorizeRemoteStart", None),
    ("AuthCtrlr", "LocalAuthorizeOffline", None),
    ("AuthCtrlr", "LocalPreAuthorize", None),
    ("LocalAuthListCtrlr", "Entries", None),
    ("LocalAuthListCtrlr", "ItemsPerMessage", None),
    ("LocalAuthListCtrlr", "BytesPerMessage", None),
    ("SmartChargingCtrlr", "Entries", "ChargingProfiles"),
    ("SmartChargingCtrlr", "ProfileStackLevel", None),
    ("SmartChargingCtrlr", "RateUnit", None),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", None),
    ("SmartChargingCtrlr", "LimitChangeSignificance", None),
    ("TariffCostCtrlr", "Currency", None),  # TariffAndCost (I01-I06)
    ("TariffCostCtrlr", "TariffFallbackMessage", None),
    ("TariffCostCtrlr", "TotalCostFallbackMessage", None),
    ("ChargingStation", "AvailabilityState", None),
    ("ChargingStation", "Available", None),
    ("ChargingStation", "SupplyPhases", None),
]
EVSE_REQUIRED = [("EVSE", "AvailabilityState"), ("EVSE", "Available"), ("EVSE", "SupplyPhases"),
                 ("EVSE", "Power")]
CONNECTOR_REQUIRED = [("Connector", "Available"), ("Connector", "ConnectorType"),
                      ("Connector", "SupplyPhases")]
LIST_TYPES = ("OptionList", "SequenceList", "MemberList")


Key = tuple[str, int | None, int | None, str, str | None]


def _key(entry: dict[str, Any]) -> Key:
    component, variable = entry["component"], entry["variable"]
    evse = component.get("evse", {})
    return (component["name"], evse.get("id"), evse.get("connector_id"), variable["name"],
            variable.get("instance"))


def inventory(path: Path, connectors: int) -> list[dict[str, Any]]:
    model = dm_fixtures.model(path, connectors)
    return [report_data(model, v) for v in base_report(model, "FullInventory")]


def tc_b_53_problems(entries: list[dict[str, Any]], evses: int) -> list[str]:
    """What TC_B_53 would find wrong with a FullInventory (empty list: nothing)."""
    problems = []
    seen = {_key(e) for e in entries}
    wanted: list[Key] = [(c, None, None, v, i) for c, v, i in STATION_REQUIRED]
    for evse in range(1, evses + 1):
        wanted += [(c, evse, None, v, None) for c, v in EVSE_REQUIRED]
        wanted += [(c, evse, 1, v, None) for c, v in CONNECTOR_REQUIRED]
    problems += [f"missing required {w}" for w in wanted if w not in seen]
    for entry in entries:
        characteristics = entry["variable_characteristics"]
        if characteristics["data_type"] in LIST_TYPES:
            allowed = characteristics.get("values_list", "")
            if not allowed:
                problems.append(f"{_key(entry)}: empty valuesList")
            for attribute in entry["variable_attribute"]:
                value = attribute.get("value", "")
                items = value.split(",") if value else []
                if characteristics["data_type"] == "OptionList" and len(items) != 1:
                    problems.append(f"{_key(entry)}: OptionList value {value!r} is not one option")
                outside = [i for i in items if i not in allowed.split(",")]
                if outside:
                    problems.append(f"{_key(entry)}: {outside} outside valuesList {allowed}")
        for attribute in entry["variable_attribute"]:
            if attribute["mutability"] == "WriteOnly" and "value" in attribute:
                problems.append(f"{_key(entry)}: WriteOnly value reported")
            if attribute["mutability"] == "ReadWrite" and not attribute["persistent"]:
                problems.append(f"{_key(entry)}: writable but not persistent")
    return problems


@pytest.mark.parametrize("connectors", [1, 3])
def test_full_inventory_passes_the_tc_b_53_checks(tmp_path: Path, connectors: int) -> None:
    entries = inventory(tmp_path, connectors)
    assert tc_b_53_problems(entries, connectors) == []
    # the password is in the report, without its value
    password = [e for e in entries if e["variable"]["name"] == "BasicAuthPassword"]
    assert password and "value" not in password[0]["variable_attribute"][0]


def test_the_check_finds_each_kind_of_problem(tmp_path: Path) -> None:
    entries = inventory(tmp_path, 1)
    broken = [e for e in entries if e["variable"]["name"] != "TxStartPoint"]
    assert any("missing required" in p for p in tc_b_53_problems(broken, 1))
    for entry in entries:
        if entry["variable"]["name"] == "RateUnit":
            entry["variable_characteristics"]["values_list"] = ""
        if entry["variable"]["name"] == "TimeSource":
            entry["variable_attribute"][0]["value"] = "GPS"
        if entry["variable"]["name"] == "BasicAuthPassword":
            entry["variable_attribute"][0]["value"] = "secret-secret-secret"
    problems = " | ".join(tc_b_53_problems(entries, 1))
    assert "empty valuesList" in problems
    assert "outside valuesList" in problems
    assert "WriteOnly value reported" in problems


def test_the_compatibility_table_lists_exactly_the_device_model(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/ocpp201.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)` \|", doc, re.MULTILINE))
    model = dm_fixtures.model(tmp_path, 1)
    actual = {f"{v.key.component.text()}.{v.definition.label}".replace("EVSE#1/1.", "EVSE#n/1.")
              .replace("EVSE#1.", "EVSE#n.") for v in model.variables}
    assert listed == actual
