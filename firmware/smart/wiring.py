"""Builds the smart-charging features from the settings and the hardware (called by the Application)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.smart.demand_response import DemandResponse, ExternalLimit
from firmware.smart.load_management import LoadManager
from firmware.smart.phase_switching import PhaseControl, PhaseSwitcher
from firmware.smart.service import SmartChargingService

if TYPE_CHECKING:
    from firmware.control.server import ControlServer
    from firmware.core.api import StationApi
    from firmware.settings import Settings
    from firmware.storage.statedir import StateDir
    from hal.clock import Clock
    from hal.contract import StationHardware


def build_smart_features(settings: Settings, clock: Clock, station: StationApi, hardware: StationHardware,
                         control: ControlServer, storage: StateDir | None = None,
                         ) -> tuple[SmartChargingService, list[Any]]:
    """The smart-charging service (for the OCPP adapter) and every feature to start, in start order."""
    service = SmartChargingService(station, clock, settings.station.state_dir, settings, storage=storage)
    external = ExternalLimit(station, clock, station.connector_ids)
    external.register(control)
    features: list[Any] = [service, external]
    # The core must own the phase-switch contactor (it opens it with the main one): switching needs
    # its PhaseControl API.
    if any(c.phase_switch is not None for c in hardware.connectors) and isinstance(station, PhaseControl):
        features.append(PhaseSwitcher(station, station, clock, settings, hardware, service))
    if settings.load_management.enabled:
        features.append(LoadManager(station, clock, settings, hardware.grid_meter))
    if settings.demand_response.enabled and hardware.demand_response is not None:
        features.append(DemandResponse(station, settings, hardware.demand_response))
    return service, features
