"""The device model on a running charger (fake HAL, simulated time): live values follow what the charger
does, the full inventory passes the TC_B_53 checks, and the 2.0.1 connector-status table."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.core.published import status_label
from firmware.core.vocabulary import ConnectorState as S
from firmware.ocpp.v201.device_model.definitions import load_components
from firmware.ocpp.v201.device_model.installation import installation_from
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.device_model.reports import base_report, report_data
from firmware.ocpp.v201.live import LiveValues
from firmware.ocpp.v201.status import CONNECTOR_STATES, connector_status, station_status
from firmware.settings import Settings
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201 import dm_fixtures
from tests.ocpp201.test_device_model_spec import tc_b_53_problems

COUNTERS = {"SecurityCtrlr.CertificateEntries": lambda: 1, "LocalAuthListCtrlr.Entries": lambda: 0,
            "SmartChargingCtrlr.Entries": lambda: 0, "OCPPCommCtrlr.ActiveNetworkProfile": lambda: 1}


async def test_live_values_follow_the_charger(make_harness: HarnessFactory, tmp_path: Path) -> None:
    h = await make_harness(connectors=[{"id": 1}, {"id": 2}])
    settings: Settings = h.app.settings
    ocpp = dm_fixtures.settings(2).ocpp
    assert ocpp is not None
    model = DeviceModel.build(load_components(), installation_from(settings, ocpp),
                              dm_fixtures.open_db(tmp_path), {}, LiveValues(h.station.snapshot, COUNTERS))
    entries = [report_data(model, v) for v in base_report(model, "FullInventory")]
    assert tc_b_53_problems(entries, 2) == []
    assert model.text("EVSE#1.EVSE.AvailabilityState") == "Available"
    assert model.text("EVSE#1.CPPWMController.State") == "A"
    assert model.integer("SecurityCtrlr.CertificateEntries") == 1

    h.sim.plug()  # without [ocpp] charging is free
    await eventually(lambda: status_label(h.station.state_of(1)) == "Charging", h.clock, 0.2, within=30)
    await h.advance(3)
    assert model.text("EVSE#1.EVSE.AvailabilityState") == "Occupied"
    assert model.text("EVSE#1/1.Connector.AvailabilityState") == "Occupied"
    assert model.text("EVSE#2.EVSE.AvailabilityState") == "Available"
    assert model.text("ChargingStation.AvailabilityState") == "Available"  # EVSE 2 is free
    assert model.flag("EVSE#1.PowerContactor.Active")
    assert model.text("EVSE#1.CPPWMController.State") == "C"
    assert float(model.text("EVSE#1.ControlMetering.Power")) > 1000
    assert model.flag("EVSE#1/1.ConnectorPlugRetentionLock.Active")
    assert not model.flag("ChargingStation.Problem")
    assert model.text("ClockCtrlr.DateTime").endswith("Z")


@pytest.mark.parametrize(("state", "expected"), [
    (S.AVAILABLE, "Available"), (S.PREPARING, "Occupied"), (S.CHARGING, "Occupied"),
    (S.SUSPENDED_EV, "Occupied"), (S.SUSPENDED_EVSE, "Occupied"), (S.FINISHING, "Occupied"),
    (S.RESERVED, "Reserved"), (S.UNAVAILABLE, "Unavailable"), (S.FAULTED, "Faulted")])
def test_connector_status_table(state: S, expected: str) -> None:
    assert connector_status(state) == expected


def test_the_table_covers_every_core_state() -> None:
    assert set(S) == set(CONNECTOR_STATES)


def test_station_status() -> None:
    assert station_status([S.CHARGING, S.AVAILABLE], False) == "Available"
    assert station_status([S.CHARGING, S.RESERVED], False) == "Occupied"
    assert station_status([S.UNAVAILABLE, S.FAULTED], False) == "Unavailable"
    assert station_status([S.FAULTED], False) == "Faulted"
    assert station_status([S.AVAILABLE], True) == "Faulted"
