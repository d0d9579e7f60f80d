"""Builds the station's hardware from the settings: one driver per part, chosen by its `driver` name.

Every part whose driver is "fake" comes from the simulation (hal.fake); the simulated station is returned
alongside so tests, the demo and `chargepi sim` can drive it. Other drivers plug in through DRIVERS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hal.clock import Clock
from hal.config import ConnectorHalConfig, DriverConfig, StationHalConfig
from hal.contract import ConnectorHardware, StationHardware
from hal.errors import ConfigError
from hal.types import CableAmpacity

if TYPE_CHECKING:  # the simulation is loaded only when a part is fake (not in the safety supervisor)
    from hal.fake import SimulatedConnector, SimulatedStation

CONNECTOR_PARTS = (
    "pilot",
    "contactor",
    "meter",
    "proximity",
    "phase_switch",
    "rcm",
    "lock",
    "temperature",
    "token_reader",
    "indicator",
    "display",
)
STATION_PARTS = ("emergency_stop", "demand_response", "grid_meter")


# What the factory reads from the settings, as Protocols: the firmware's settings models satisfy them
# structurally, so the HAL needs no import of `firmware.settings`.
class ConnectorSetup(Protocol):
    """One connector's electrical rating and its part drivers."""

    @property
    def id(self) -> int: ...
    @property
    def rated_current_a(self) -> float: ...
    @property
    def phases(self) -> int: ...
    @property
    def nominal_voltage_v(self) -> float: ...
    @property
    def hal(self) -> ConnectorHalConfig: ...


class StationSetup(Protocol):
    """The station-wide parts and where the simulated world is kept."""

    @property
    def state_dir(self) -> Path: ...
    @property
    def hal(self) -> StationHalConfig: ...


class HardwareSetup(Protocol):
    """Everything the factory needs to build a station's hardware."""

    @property
    def station(self) -> StationSetup: ...
    @property
    def connectors(self) -> Sequence[ConnectorSetup]: ...


class BuildContext:
    """What a driver builder may need: the settings, the clock, and the simulation built so far."""

    def __init__(self, settings: HardwareSetup, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._simulated: dict[int, SimulatedConnector] = {}
        self.station_fakes: set[str] = set()
        self.shared: dict[str, Any] = {}  # resources parts share, e.g. one Modbus client per bus

    def simulated_connector(self, connector: ConnectorSetup) -> SimulatedConnector:
        """The one simulated connector behind every fake part of `connector` (made on first use)."""
        found = self._simulated.get(connector.id)
        if found is None:
            from hal.fake import SimulatedConnector

            phase_switch = connector.hal.phase_switch
            found = SimulatedConnector(
                connector.id,
                self.clock,
                phases=connector.phases,
                voltage_v=connector.nominal_voltage_v,
                cable_ampacity=_cable_for(connector.rated_current_a),
                ev_reaction_s=self.settings.station.hal.sim_ev_reaction_s,
                with_phase_switch=phase_switch is not None and phase_switch.driver == "fake",
            )
            self._simulated[connector.id] = found
        return found

    def simulation(self) -> SimulatedStation | None:
        if not self._simulated and not self.station_fakes:
            return None
        from hal.fake import SimulatedStation

        return SimulatedStation(
            self.clock,
            [self._simulated[k] for k in sorted(self._simulated)],
            with_emergency_stop="emergency_stop" in self.station_fakes,
            with_demand_response="demand_response" in self.station_fakes,
            with_grid_meter="grid_meter" in self.station_fakes,
        )


# A connector part builder: (context, connector settings or None for station parts, part name, config).
PartBuilder = Callable[[BuildContext, ConnectorSetup | None, str, DriverConfig], Any]


def _cable_for(rated_current_a: float) -> CableAmpacity:
    """The simulated cable: the smallest standard Type 2 rating that carries the connector's rating."""
    for ampacity in (CableAmpacity.A13, CableAmpacity.A20, CableAmpacity.A32, CableAmpacity.A63):
        if ampacity >= rated_current_a:
            return ampacity
    return CableAmpacity.A63


def _fake(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: DriverConfig) -> Any:
    if connector is None:
        # Station parts come from the SimulatedStation, made once every part is known.
        ctx.station_fakes.add(part)
        return None
    simulated = ctx.simulated_connector(connector)
    if part == "meter" and getattr(config, "ocmf", False):
        from hal.fake.signing_meter import SimulatedSigningMeter

        return SimulatedSigningMeter(simulated.meter, simulated.world, ctx.clock, f"SIM-{connector.id}",
                                     getattr(config, "sign_time_s", 0.0))
    return getattr(simulated, part)


# The real-hardware drivers (hal.drivers_factory) are imported only when a part uses one, so a charger
# on the fake HAL (tests, demo, CI) does not load them. tests/hal/fake/test_factory.py checks the names.
HARDWARE_DRIVER_NAMES = ("gpio", "sysfs", "gpio-rgb", "adc", "modbus-rtu", "modbus-tcp", "serial", "hid",
                         "hd44780-i2c")


def _hardware(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: DriverConfig) -> Any:
    from hal.drivers_factory import HARDWARE_DRIVERS

    return HARDWARE_DRIVERS[str(getattr(config, "driver", ""))](ctx, connector, part, config)


DRIVERS: dict[str, PartBuilder] = {"fake": _fake, **dict.fromkeys(HARDWARE_DRIVER_NAMES, _hardware)}


def _build(
    ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: DriverConfig | None
) -> Any:
    if config is None:
        return None
    driver = str(getattr(config, "driver", ""))
    builder = DRIVERS.get(driver)
    if builder is None:
        where = f"connectors[{connector.id}].hal.{part}" if connector else f"station.hal.{part}"
        raise ConfigError(f"{where}: driver {driver!r} is not available; known: {', '.join(sorted(DRIVERS))}")
    return builder(ctx, connector, part, config)


# A part that lives elsewhere (the safety supervisor's), by (connector id or None, part name), or None.
RemotePart = Callable[[int | None, str], Any]


def _part(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: DriverConfig | None,
          remote: RemotePart | None) -> Any:
    substitute = remote(connector.id if connector else None, part) if remote is not None else None
    if substitute is None:
        return _build(ctx, connector, part, config)
    if str(getattr(config, "driver", "")) == "fake":
        _build(ctx, connector, part, config)  # the simulated world still has it: the supervisor drives it
    return substitute  # a real driver is not even built here: its lines belong to the other process


def build_station_hardware(
    settings: HardwareSetup, clock: Clock, remote: RemotePart | None = None
) -> tuple[StationHardware, SimulatedStation | None]:
    """`remote` gives the parts another process owns (the safety supervisor's) in place of drivers."""
    ctx = BuildContext(settings, clock)
    connectors: list[ConnectorHardware] = []
    for cs in settings.connectors:
        parts = {name: _part(ctx, cs, name, getattr(cs.hal, name), remote) for name in CONNECTOR_PARTS}
        connectors.append(ConnectorHardware(connector_id=cs.id, **parts))
    station_parts = {
        name: _part(ctx, None, name, getattr(settings.station.hal, name), remote) for name in STATION_PARTS
    }
    simulation = ctx.simulation()
    if simulation is not None:
        from hal.fake.persistence import WorldFile

        world_file = WorldFile(settings.station.state_dir / "sim", simulation)
        simulation.world_file = world_file
        if settings.station.hal.sim_persist:
            world_file.restore()
            world_file.attach()
        for name in ctx.station_fakes:
            if station_parts[name] is None:
                station_parts[name] = getattr(simulation, name)
    return StationHardware(connectors=connectors, **station_parts), simulation
