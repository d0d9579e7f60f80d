"""The factory builds the fake parts the settings ask for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from firmware.settings import ConfigError, Settings
from hal.clock import SimClock
from hal.factory import DRIVERS, HARDWARE_DRIVER_NAMES, build_station_hardware
from hal.fake import SimulatedConnector
from hal.types import CableAmpacity


def test_default_settings_give_one_fully_simulated_connector() -> None:
    hardware, sim = build_station_hardware(Settings(), SimClock())
    assert sim is not None
    [conn] = sim.connectors
    [hw] = hardware.connectors
    assert hw.pilot is conn.pilot and hw.contactor is conn.contactor and hw.meter is conn.meter
    assert hw.rcm is conn.rcm and hw.lock is conn.lock and hw.proximity is conn.proximity
    assert hw.phase_switch is None
    assert hardware.emergency_stop is None and hardware.grid_meter is None


def test_parts_follow_connector_and_station_settings() -> None:
    settings = Settings.model_validate({
        "connectors": [
            {"id": 1, "phases": 1, "nominal_voltage_v": 120.0, "rated_current_a": 16,
             "hal": {"lock": None, "phase_switch": {"driver": "fake"}}},
            {"id": 2, "rated_current_a": 63},
        ],
        "station": {"hal": {"emergency_stop": {"driver": "fake"}, "grid_meter": {"driver": "fake"}}},
    })
    hardware, sim = build_station_hardware(settings, SimClock())
    assert sim is not None
    one, _ = hardware.connectors
    assert one.lock is None and one.phase_switch is sim.connector(1).phase_switch is not None
    assert sim.connector(1).snapshot()["voltage_v"] == 120.0
    assert sim.connector(1).snapshot()["drawn_a"] == [0.0]
    assert sim.connector(1).snapshot()["cable_ampacity_a"] == CableAmpacity.A20
    assert sim.connector(2).snapshot()["cable_ampacity_a"] == CableAmpacity.A63
    assert hardware.emergency_stop is sim.emergency_stop is not None
    assert hardware.grid_meter is sim.grid_meter is not None
    assert hardware.demand_response is None
    # station: 2; connector 1: no lock but a phase switch; connector 2: no phase switch
    assert len(hardware.parts()) == 2 + 9 + 9


def test_unknown_driver_names_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(DRIVERS, "fake")
    with pytest.raises(ConfigError, match=r"connectors\[1\]\.hal\.pilot: driver 'fake' is not available"):
        build_station_hardware(Settings(), SimClock())


def test_station_connector_lookup() -> None:
    _, sim = build_station_hardware(Settings(), SimClock())
    assert sim is not None
    assert isinstance(sim.connector(1), SimulatedConnector)
    with pytest.raises(KeyError, match="no simulated connector 3"):
        sim.connector(3)


def test_every_hardware_driver_is_offered_and_the_fake_hal_loads_none() -> None:
    from hal.drivers_factory import HARDWARE_DRIVERS

    assert sorted(HARDWARE_DRIVER_NAMES) == sorted(HARDWARE_DRIVERS)
    probe = ("import sys; from firmware.settings import Settings; from hal.clock import SimClock; "
             "from hal.factory import build_station_hardware; "
             "build_station_hardware(Settings(), SimClock()); print('hal.drivers_factory' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
