"""Live device-model values (AvailabilityState, DateTime, Power, ...) read from the charger's status
document (`StationApi.snapshot()`, the same document as `chargepi status --json`), so the device model
reports what the charger does right now. Hardware component variables follow docs/reference/ocpp201.md §2.4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware.core.vocabulary import ConnectorState
from firmware.ocpp.v201.device_model.keys import VariableKey
from firmware.ocpp.v201.status import connector_status, station_status

Snapshot = Callable[[], dict[str, Any]]
Counter = Callable[[], int]
# Faults (status document names) that make a component's Problem true.
CONTACTOR_FAULTS = {"welded", "feedback-missing"}
LOCK_FAULTS = {"lock"}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _optional(value: object) -> str:
    return "" if value is None else str(value)  # no reading yet: an empty value (B06.FR.13)


def _average(values: list[float]) -> str:
    return str(round(sum(values) / len(values), 2)) if values else "0"


class LiveValues:
    """A LiveSource: `counters` supplies the counts other stores own (CertificateEntries,
    LocalAuthListCtrlr.Entries, SmartChargingCtrlr.Entries[ChargingProfiles], ActiveNetworkProfile)."""

    def __init__(self, snapshot: Snapshot, counters: dict[str, Counter]) -> None:
        self._snapshot = snapshot
        self._counters = counters

    def __call__(self, key: VariableKey) -> str:
        component = key.component
        counter = self._counters.get(f"{component.name}.{key.name}")
        if counter is not None:
            return str(counter())
        doc = self._snapshot()
        if component.name == "ClockCtrlr":
            return str(doc["time"])
        connectors = {c["id"]: c for c in doc["connectors"]}
        if component.evse is None:  # ChargingStation
            states = [ConnectorState(c["state"]) for c in connectors.values()]
            if key.name == "AvailabilityState":
                return station_status(states, bool(doc["station"]["emergency_stop"]))
            stopped = bool(doc["station"]["emergency_stop"])
            return _flag(stopped or any(c["faults"] for c in connectors.values()))
        return self._evse_value(component.name, key.name, connectors[component.evse])

    def _evse_value(self, component: str, variable: str, c: dict[str, Any]) -> str:
        faults = set(c["faults"])
        meter = c["meter"]
        values: dict[tuple[str, str], Callable[[], str]] = {
            ("EVSE", "AvailabilityState"): lambda: connector_status(ConnectorState(c["state"])),
            ("Connector", "AvailabilityState"): lambda: connector_status(ConnectorState(c["state"])),
            ("EVSE", "Problem"): lambda: _flag(bool(faults)),
            ("EVSE", "Power"): lambda: str(meter.get("power_total_w", 0)),
            ("ControlMetering", "Power"): lambda: str(meter.get("power_total_w", 0)),
            ("ControlMetering", "ACCurrent"): lambda: _average(meter.get("current_a", [])),
            ("ControlMetering", "ACVoltage"): lambda: _average(meter.get("voltage_v", [])),
            ("PowerContactor", "Active"): lambda: _flag(bool(c["contactor"]["closed"])),
            ("PowerContactor", "Problem"): lambda: _flag(bool(faults & CONTACTOR_FAULTS)),
            ("CPPWMController", "State"): lambda: str(c["cp_state"]),
            ("RCD", "Tripped"): lambda: _flag("rcd" in faults),
            ("TemperatureSensor", "Temperature"): lambda: _optional(c["temperature_c"]),
            ("ConnectorPlugRetentionLock", "Active"): lambda: _flag(c["lock"] == "locked"),
            ("ConnectorPlugRetentionLock", "Problem"): lambda: _flag(bool(faults & LOCK_FAULTS)),
        }
        return values[(component, variable)]()
