"""What the controller tells the safety supervisor process: the HAL configs of the parts it owns and the few
station settings it uses, as JSON on the supervisor's stdin.

The supervisor validates the part configs again with the HAL's own models (hal.config) and never imports
the settings models (firmware.settings: pydantic-settings and every feature's section, OCPP included), so
its interpreter starts with only what it runs (tests/product/test_startup_imports.py checks the modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hal.config import ConnectorHalConfig, StationHalConfig

if TYPE_CHECKING:
    from firmware.settings import Settings


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector as hal.factory.ConnectorSetup reads it, and its ventilation rule (state D)."""

    id: int
    rated_current_a: float
    phases: int
    nominal_voltage_v: float
    ventilation: bool
    hal: ConnectorHalConfig


@dataclass(frozen=True)
class StationSpec:
    """The station as hal.factory.StationSetup reads it."""

    state_dir: Path
    hal: StationHalConfig


@dataclass(frozen=True)
class LogSpec:
    """What firmware.logging_setup.configure needs."""

    level: str
    format: Literal["logfmt", "json"]
    components: dict[str, str]


@dataclass(frozen=True)
class SupervisorSpec:
    station: StationSpec
    connectors: list[ConnectorSpec]
    fake_parts: list[str]
    watchdog_s: float
    rt_priority: int
    log: LogSpec


def spec_of(settings: Settings, fake_parts: list[str]) -> dict[str, Any]:
    """The controller's side: the JSON document for the supervisor."""
    station = settings.station
    return {
        "station": {"state_dir": str(station.state_dir), "hal": station.hal.model_dump(mode="json")},
        "connectors": [{"id": c.id, "rated_current_a": c.rated_current_a, "phases": c.phases,
                        "nominal_voltage_v": c.nominal_voltage_v, "ventilation": c.ventilation,
                        "hal": c.hal.model_dump(mode="json")} for c in settings.connectors],
        "fake_parts": fake_parts,
        "watchdog_s": station.supervisor_watchdog_s,
        "rt_priority": station.supervisor_rt_priority,
        "log": {"level": settings.logging.level or station.log_level, "format": settings.logging.format,
                "components": dict(settings.logging.components)},
    }


def parse_spec(doc: dict[str, Any]) -> SupervisorSpec:
    """The supervisor's side (raises pydantic's ValidationError on a config the models refuse)."""
    station = doc["station"]
    return SupervisorSpec(
        station=StationSpec(Path(station["state_dir"]), StationHalConfig.model_validate(station["hal"])),
        connectors=[ConnectorSpec(int(c["id"]), float(c["rated_current_a"]), int(c["phases"]),
                                  float(c["nominal_voltage_v"]), bool(c["ventilation"]),
                                  ConnectorHalConfig.model_validate(c["hal"])) for c in doc["connectors"]],
        fake_parts=[str(name) for name in doc["fake_parts"]],
        watchdog_s=float(doc["watchdog_s"]),
        rt_priority=int(doc["rt_priority"]),
        log=LogSpec(str(doc["log"]["level"]), "json" if doc["log"]["format"] == "json" else "logfmt",
                   dict(doc["log"]["components"])),
    )
