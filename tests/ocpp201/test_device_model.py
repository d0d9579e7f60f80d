"""The device model's Get/SetVariables answers, persistence, presets and reports (OCPP 2.0.1 B05-B08)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from firmware.ocpp.v201.device_model.definitions import DefinitionError, load_components, parse_component
from firmware.ocpp.v201.device_model.installation import installation_from
from firmware.ocpp.v201.device_model.keys import BadKey, ComponentKey, parse
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.device_model.reports import base_report, custom_report, notify_parts
from firmware.ocpp.v201.device_model.values import BadValue, Characteristics, canonical
from firmware.settings import Settings
from tests.ocpp201 import dm_fixtures

COMM = ComponentKey("OCPPCommCtrlr")
SECURITY = ComponentKey("SecurityCtrlr")
EVSE1 = ComponentKey("EVSE", evse=1)


def test_get_variables_answers(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path)
    assert model.get(COMM, "HeartbeatInterval", None).value == "300"
    assert model.get(COMM, "MessageAttempts", "TransactionEvent").status == "Accepted"
    assert model.get(ComponentKey("NoSuchCtrlr"), "Enabled", None).status == "UnknownComponent"
    assert model.get(COMM, "NoSuchVariable", None).status == "UnknownVariable"
    # an instance is part of the name: without it the variable does not exist (B06.FR.15)
    assert model.get(COMM, "MessageAttempts", None).status == "UnknownVariable"
    assert model.get(COMM, "HeartbeatInterval", None, "MaxSet").status == "NotSupportedAttributeType"
    assert model.get(SECURITY, "BasicAuthPassword", None).status == "Rejected"
    assert model.get(EVSE1, "AvailabilityState", None).value == "Available"  # live
    assert model.get(ComponentKey("EVSE", evse=9), "Available", None).status == "UnknownComponent"
    assert model.get(ComponentKey("Connector", evse=2, connector=1), "ConnectorType", None).value == "sType2"


def test_set_variables_answers_and_persistence(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path)
    assert model.set(COMM, "HeartbeatInterval", None, "120").status == "Accepted"
    assert model.set(COMM, "HeartbeatInterval", None, "0").status == "Rejected"  # below minLimit
    assert model.set(COMM, "HeartbeatInterval", None, "soon").status == "Rejected"
    assert model.set(COMM, "FileTransferProtocols", None, "HTTP").reason == "ReadOnly"
    assert model.set(COMM, "NetworkConfigurationPriority", None, "2,1").status == "RebootRequired"
    assert model.set(COMM, "NetworkConfigurationPriority", None, "4").status == "Rejected"  # not a slot
    assert model.set(COMM, "Nope", None, "1").status == "UnknownVariable"
    assert model.set(ComponentKey("Nope"), "Nope", None, "1").status == "UnknownComponent"
    assert model.set(COMM, "HeartbeatInterval", None, "1", "Target").status == "NotSupportedAttributeType"
    tx = ComponentKey("TxCtrlr")
    assert model.set(tx, "TxStartPoint", None, "EVConnected,Authorized").status == "Accepted"
    assert model.set(tx, "TxStartPoint", None, "DataSigned").status == "Rejected"  # not in valuesList
    assert model.set(SECURITY, "BasicAuthPassword", None, "short").status == "Rejected"
    assert model.set(SECURITY, "BasicAuthPassword", None, "0123456789abcdef").status == "Accepted"
    assert model.get(SECURITY, "BasicAuthPassword", None).status == "Rejected"
    assert model.secret("SecurityCtrlr.BasicAuthPassword") == "0123456789abcdef"

    again = dm_fixtures.model(tmp_path)  # after a restart
    assert again.integer("OCPPCommCtrlr.HeartbeatInterval") == 120
    assert again.members("TxCtrlr.TxStartPoint") == ["EVConnected", "Authorized"]
    assert again.text("OCPPCommCtrlr.NetworkConfigurationPriority") == "2,1"
    assert again.secret("SecurityCtrlr.BasicAuthPassword") == "0123456789abcdef"


def test_guards_and_listeners(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path)
    changes: list[str] = []
    model.guard("OCPPCommCtrlr.OfflineThreshold", lambda v: None if int(v) >= 30 else "too short here")
    model.on_change(lambda key, value: changes.append(f"{key.text()}={value}"))
    assert model.set(COMM, "OfflineThreshold", None, "10").reason == "too short here"
    assert model.set(COMM, "OfflineThreshold", None, "45").status == "Accepted"
    assert changes == ["OCPPCommCtrlr.OfflineThreshold=45"]


def test_presets_and_the_csms_wins(tmp_path: Path) -> None:
    presets = {"OCPPCommCtrlr.MessageAttempts[TransactionEvent]": 3,
               "EVSE#2/1.Connector.ConnectorType": "cType1",
               "txctrlr.stoptxoninvalidid": False}  # the environment lower-cases names
    model = dm_fixtures.model(tmp_path, device_model=presets)
    assert model.integer("OCPPCommCtrlr.MessageAttempts[TransactionEvent]") == 3
    assert model.text("EVSE#2/1.Connector.ConnectorType") == "cType1"
    assert model.text("EVSE#1/1.Connector.ConnectorType") == "sType2"
    assert not model.flag("TxCtrlr.StopTxOnInvalidId")
    model.set(COMM, "MessageAttempts", "TransactionEvent", "7")
    assert dm_fixtures.model(tmp_path, device_model=presets).integer(
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]") == 7


@pytest.mark.parametrize(("key", "value", "says"), [
    ("OCPPCommCtrlr.NoSuch", 1, "no such variable"),
    ("EVSE#3.EVSE.Available", True, "no such variable"),  # two EVSEs
    ("OCPPCommCtrlr.HeartbeatInterval", 0, "below the minimum"),
    ("OCPPCommCtrlr.FileTransferProtocols", "HTTP", "ReadOnly"),
    ("SecurityCtrlr.BasicAuthPassword", "0123456789abcdef", "WriteOnly"),
    ("ClockCtrlr.DateTime", "2030-01-01T00:00:00Z", "live"),
    ("just-a-word", 1, "not a device-model key"),
])
def test_bad_presets_are_refused_with_the_reason(key: str, value: object, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"connectors": [{"id": 1}, {"id": 2}], "ocpp": {
            "url": "ws://x/", "charge_point_id": "CP", "device_model": {key: value}}})
    assert says in str(caught.value)


def test_hardware_components_follow_the_hal(tmp_path: Path) -> None:
    s = Settings.model_validate({"connectors": [{"id": 1}, {"id": 2, "hal": {"lock": None, "rcm": None}}],
                                 "ocpp": {"url": "ws://x/", "charge_point_id": "CP"}})
    from firmware.ocpp.v201.device_model.definitions import load_components
    from firmware.ocpp.v201.device_model.installation import installation_from
    from firmware.ocpp.v201.device_model.model import DeviceModel
    assert s.ocpp is not None
    model = DeviceModel.build(load_components(), installation_from(s, s.ocpp), None, {}, dm_fixtures.live)
    names = {(c.name, c.evse) for c in model.component_keys()}
    assert ("RCD", 1) in names and ("RCD", 2) not in names
    assert ("ConnectorPlugRetentionLock", 1) in names and ("ConnectorPlugRetentionLock", 2) not in names
    assert ("PowerContactor", 2) in names


def test_notify_report_parts_respect_items_and_bytes(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path, device_model={"DeviceDataCtrlr.ItemsPerMessage[GetReport]": 10})
    full = base_report(model, "FullInventory")
    parts = notify_parts(model, full, 7, "2030-06-01T12:00:00Z")
    assert len(parts) == -(-len(full) // 10)
    assert [p["seq_no"] for p in parts] == list(range(len(parts)))
    assert [p["tbc"] for p in parts] == [True] * (len(parts) - 1) + [False]
    assert sum(len(p["report_data"]) for p in parts) == len(full)
    assert {p["request_id"] for p in parts} == {7}

    limit = {"DeviceDataCtrlr.BytesPerMessage[GetReport]": 2000}
    small = dm_fixtures.model(tmp_path / "b", device_model=limit)
    parts = notify_parts(small, base_report(small, "FullInventory"), 1, "2030-06-01T12:00:00Z")
    assert len(parts) > 3
    assert all(len(json.dumps(p)) + 64 <= 2000 for p in parts)


def test_base_reports(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path)
    config = base_report(model, "ConfigurationInventory")
    assert config and all(any(a.mutability != "ReadOnly" for a in v.attributes) for v in config)
    assert "BasicAuthPassword" in {v.key.name for v in config}
    summary = {(v.key.component.name, v.key.name) for v in base_report(model, "SummaryInventory")}
    assert ("ChargingStation", "AvailabilityState") in summary and ("EVSE", "AvailabilityState") in summary
    assert ("PowerContactor", "Problem") not in summary
    dm_fixtures.LIVE["Problem"] = "true"
    try:
        summary = {(v.key.component.name, v.key.name) for v in base_report(model, "SummaryInventory")}
        assert ("PowerContactor", "Problem") in summary
    finally:
        dm_fixtures.LIVE["Problem"] = "false"


def test_get_report_filters(tmp_path: Path) -> None:
    model = dm_fixtures.model(tmp_path)
    # component without evse: every EVSE (B08.FR.23); variable without instance: every instance (B08.FR.21)
    found = custom_report(model, None, [{"component": {"name": "EVSE"}, "variable": {"name": "Power"}}])
    assert [v.key.component.evse for v in found] == [1, 2]
    found = custom_report(model, None, [{"component": {"name": "DeviceDataCtrlr"},
                                         "variable": {"name": "ItemsPerMessage"}}])
    assert {v.key.instance for v in found} == {"GetReport", "GetVariables", "SetVariables"}
    found = custom_report(model, None, [{"component": {"name": "Connector", "evse": {"id": 2}}}])
    assert found and {v.key.component.evse for v in found} == {2}
    # criteria: Enabled = components whose Enabled is true or who have none (B08.FR.09)
    assert custom_report(model, ["Problem"], None) == []
    enabled = {v.key.component.name for v in custom_report(model, ["Enabled"], None)}
    assert "SmartChargingCtrlr" in enabled and "OCPPCommCtrlr" in enabled
    model.set(ComponentKey("SmartChargingCtrlr"), "Enabled", None, "false")
    assert "SmartChargingCtrlr" not in {v.key.component.name for v in custom_report(model, ["Enabled"], None)}
    both = custom_report(model, ["Enabled"], [{"component": {"name": "SmartChargingCtrlr"}}])
    assert both == []  # both filters apply (B08.FR.05)


def test_key_syntax_round_trips() -> None:
    for text in ("OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
                 "EVSE#1.EVSE.Power", "EVSE#1/2.Connector.ConnectorType", "EVSE#1.EVSE.Power:MaxSet",
                 "Comp[inst].Var[x]"):
        assert parse(text).text() == text
    with pytest.raises(BadKey):
        parse("EVSE#1.EVSE.Power:Sometimes")


def test_definition_files_are_checked() -> None:
    good = {"name": "X", "variable": [{"name": "V", "data_type": "boolean", "value": "true"}]}
    assert parse_component(good, "x.toml").variables[0].name == "V"
    with pytest.raises(DefinitionError, match="values_list"):
        parse_component({"name": "X", "variable": [{"name": "V", "data_type": "OptionList"}]}, "x.toml")
    with pytest.raises(DefinitionError, match="unknown keys"):
        parse_component({"name": "X", "variable": [{"name": "V", "data_type": "boolean", "typo": 1}]}, "x")
    with pytest.raises(DefinitionError, match="live"):
        parse_component({"name": "X", "variable": [{"name": "V", "data_type": "boolean", "live": True,
                                                    "value": "true"}]}, "x.toml")


MEMBERS = Characteristics("MemberList", values_list=("A", "B", "C"))


@given(st.lists(st.sampled_from(["A", "B", "C", "D", ""]), max_size=5))
def test_member_lists_take_exactly_subsets_of_the_values_list(items: list[str]) -> None:
    text = ",".join(items)
    elements = text.split(",") if text else []
    valid = all(i in ("A", "B", "C") for i in elements) and len(set(elements)) == len(elements)
    if valid:
        assert canonical(text, MEMBERS) == text
    else:
        with pytest.raises(BadValue):
            canonical(text, MEMBERS)


def test_tariff_cost_ctrlr_variables(tmp_path: Path) -> None:
    """TariffCostCtrlr (I01-I06): the messages per language are settable and kept, Available follows the
    display, Currency is the display's until the CSMS sets one."""
    tariff = ComponentKey("TariffCostCtrlr")
    model = dm_fixtures.model(tmp_path)
    assert model.get(tariff, "Available", "Tariff").value == "false"  # no connector has a display
    assert model.set(tariff, "Available", "Cost", "true").reason == "ReadOnly"
    assert model.get(tariff, "Enabled", "Cost").value == "true"
    assert model.get(tariff, "Currency", None).value == ""
    assert model.set(tariff, "Currency", None, "EUR").status == "Accepted"
    assert model.set(tariff, "Currency", None, "EURO-X").status == "Rejected"  # longer than 5
    assert model.set(tariff, "TariffFallbackMessage", "de", "0,40 EUR/kWh").status == "Accepted"
    assert model.set(tariff, "TotalCostFallbackMessage", None, "x" * 513).status == "Rejected"
    assert model.get(tariff, "TariffFallbackMessage", "es").status == "UnknownVariable"
    assert model.get(tariff, "NumberOfDecimalsForCostValues", None).value == "2"
    again = dm_fixtures.model(tmp_path)
    assert again.text("TariffCostCtrlr.TariffFallbackMessage[de]") == "0,40 EUR/kWh"
    assert again.text("TariffCostCtrlr.Currency") == "EUR"

    shown = Settings.model_validate({
        "station": {"state_dir": "/tmp/unused"}, "display": {"currency": "CHF"},
        "connectors": [{"id": 1, "hal": {"display": {"driver": "fake"}}}],
        "ocpp": {"url": "ws://csms.example/ocpp", "charge_point_id": "CP-1"}})
    assert shown.ocpp is not None
    with_display = DeviceModel.build(load_components(), installation_from(shown, shown.ocpp), None,
                                     shown.ocpp.device_model, dm_fixtures.live)
    assert with_display.flag("TariffCostCtrlr.Available[Tariff]")
    assert with_display.text("TariffCostCtrlr.Currency") == "CHF"


def test_a_failing_listener_does_not_keep_the_change_from_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = dm_fixtures.model(tmp_path)
    changes: list[str] = []

    def broken(key: object, value: str) -> None:
        raise RuntimeError("listener bug")

    model.on_change(broken)
    model.on_change(lambda key, value: changes.append(f"{key.text()}={value}"))
    with caplog.at_level(logging.ERROR):
        assert model.set(COMM, "OfflineThreshold", None, "45").status == "Accepted"
    assert changes == ["OCPPCommCtrlr.OfflineThreshold=45"]
    assert any(r.exc_info and "listener bug" in str(r.exc_info[1]) for r in caplog.records)
