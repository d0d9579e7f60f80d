"""Driver configuration: the example configs validate, bad pins / models / drivers are named with what is
allowed, and a real board never gets simulated parts by accident."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.settings import ConfigError, load_settings
from hal.clock import SimClock
from hal.config import FakeDriver
from hal.factory import build_station_hardware
from hal.gpio.contactor import GpioContactor
from hal.meters.modbus_meter import ModbusMeter
from hal.pilot.driver import HardwareControlPilot

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", ["pi-hat-mcp3004.toml", "comparator-board.toml", "custom-meter.toml"])
def test_example_configs_validate(name: str) -> None:
    settings = load_settings(CONFIG_DIR / name)
    assert settings.connectors[0].hal.meter.driver != "fake"


def test_real_board_has_no_implicit_fake_parts() -> None:
    settings = load_settings(CONFIG_DIR / "pi-hat-mcp3004.toml")
    hal = settings.connectors[0].hal
    assert hal.temperature is None and hal.phase_switch is None
    assert hal.rcm is not None and hal.rcm.driver == "gpio"
    bare = load_settings(
        None,
        connectors=[
            {
                "id": 1,
                "hal": {
                    "pilot": {
                        "driver": "sysfs",
                        "measure": {"type": "adc", "adc_v_at_minus_12": 0.3, "adc_v_at_plus_12": 3.0},
                    }
                },
            }
        ],
    )
    assert bare.connectors[0].hal.rcm is None and bare.connectors[0].hal.lock is None
    assert load_settings(None).connectors[0].hal.rcm is not None  # the all-simulated default stays


def test_comparator_board_builds_software_pwm_and_tcp_meter() -> None:
    settings = load_settings(CONFIG_DIR / "comparator-board.toml")
    hardware, simulation = build_station_hardware(settings, SimClock())
    hw = hardware.connectors[0]
    assert simulation is None
    assert isinstance(hw.pilot, HardwareControlPilot) and isinstance(hw.contactor, GpioContactor)
    assert isinstance(hw.meter, ModbusMeter) and hw.meter.map.name == "Eastron SDM120"


def test_shared_rs485_line_gets_one_bus() -> None:
    settings = load_settings(CONFIG_DIR / "pi-hat-mcp3004.toml")
    from hal.drivers_factory import build_meter
    from hal.factory import BuildContext

    ctx = BuildContext(settings, SimClock())
    grid = settings.station.hal.grid_meter
    meter = settings.connectors[0].hal.meter
    assert grid is not None and grid.driver == meter.driver == "modbus-rtu"
    assert not isinstance(meter, FakeDriver) and not isinstance(grid, FakeDriver)
    a, b = build_meter(ctx, meter), build_meter(ctx, grid)
    assert a.bus is b.bus


@pytest.mark.parametrize(
    ("hal", "message"),
    [
        (
            {"pilot": {"driver": "pwm"}},
            "connectors.0.hal.pilot.driver = 'pwm': allowed: 'fake', 'sysfs', 'gpio'",
        ),
        ({"contactor": {"driver": "gpio", "coil": 31}}, "connectors.0.hal.contactor.coil.pin = 31: pin 31"),
        ({"contactor": {"driver": "gpio", "coil": "GPIO40"}}, "allowed: BCM number 0-27"),
        ({"meter": {"driver": "modbus-tcp", "host": "h", "model": "sdm999"}}, "unknown meter model 'sdm999'"),
        ({"meter": {"driver": "modbus-tcp", "host": "h"}}, "give exactly one of `model`"),
        (
            {
                "pilot": {
                    "driver": "sysfs",
                    "measure": {
                        "type": "adc",
                        "adc_model": "MCP9999",
                        "adc_v_at_minus_12": 0.3,
                        "adc_v_at_plus_12": 3.0,
                    },
                }
            },
            "connectors.0.hal.pilot.measure.adc_model = 'MCP9999': allowed: 'MCP3002'",
        ),
        (
            {
                "pilot": {
                    "driver": "sysfs",
                    "measure": {
                        "type": "adc",
                        "adc_v_at_minus_12": 0.3,
                        "adc_v_at_plus_12": 3.0,
                        "interval_ms": 20,
                        "confirm": 3,
                    },
                }
            },
            "must not exceed 50 ms",
        ),
        (
            {
                "meter": {
                    "driver": "modbus-tcp",
                    "host": "h",
                    "map": {"name": "x", "registers": {"volts": {"address": 1}}},
                }
            },
            "unknown register name(s) ['volts']",
        ),
    ],
)
def test_bad_driver_settings_are_explained(hal: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, connectors=[{"id": 1, "hal": hal}])
    assert message in str(err.value)
