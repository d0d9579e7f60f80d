"""A simulated station: its simulated connectors plus the station-wide inputs and the grid meter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hal.clock import Clock
from hal.contract import StationHardware
from hal.fake.connector import SimulatedConnector
from hal.fake.meter import SimulatedGridMeter
from hal.fake.parts import SimulatedInput

if TYPE_CHECKING:
    from hal.fake.persistence import WorldFile


class SimulatedStation:
    def __init__(
        self,
        clock: Clock,
        connectors: list[SimulatedConnector],
        *,
        with_emergency_stop: bool = False,
        with_demand_response: bool = False,
        with_grid_meter: bool = False,
    ) -> None:
        self.clock = clock
        self.connectors = list(connectors)
        self.emergency_stop = SimulatedInput() if with_emergency_stop else None
        self.demand_response = SimulatedInput() if with_demand_response else None
        self.grid_meter = SimulatedGridMeter(clock, self.connectors) if with_grid_meter else None
        self.world_file: WorldFile | None = None  # set by hal.factory: the world outlives the controller

    def reset(self) -> None:
        """A new world (`chargepi sim reset`): cars unplugged, defaults, no faults, meters at 0 Wh."""
        if self.world_file is None:
            raise ValueError("this simulation was not built from settings: nothing to reset")
        self.world_file.reset()

    def connector(self, connector_id: int) -> SimulatedConnector:
        for connector in self.connectors:
            if connector.connector_id == connector_id:
                return connector
        known = ", ".join(str(c.connector_id) for c in self.connectors) or "none"
        raise KeyError(f"no simulated connector {connector_id} (simulated connectors: {known})")

    def hardware(self) -> StationHardware:
        return StationHardware(
            connectors=[c.hardware() for c in self.connectors],
            emergency_stop=self.emergency_stop,
            demand_response=self.demand_response,
            grid_meter=self.grid_meter,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "connectors": [c.snapshot() for c in self.connectors],
            "emergency_stop": None if self.emergency_stop is None else self.emergency_stop.active,
            "demand_response": None if self.demand_response is None else self.demand_response.active,
            "site_load_a": None if self.grid_meter is None else list(self.grid_meter.site_load_a),
        }
