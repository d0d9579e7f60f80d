"""The charger's connector states in OCPP 2.0.1 terms (docs/reference/ocpp201.md §3): the five
connectorStatus values of StatusNotification (also AvailabilityState in the device model) and the
chargingState of a transaction. The table is keyed by the state names of the status document
(`chargepi status --json`, connectors[].status)."""

from __future__ import annotations

from typing import Literal

ConnectorStatus201 = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
ChargingState = Literal["Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"]

# state → (connectorStatus, chargingState while a transaction runs)
CONNECTOR_STATES: dict[str, tuple[ConnectorStatus201, ChargingState]] = {
    "Available": ("Available", "Idle"),
    "Preparing": ("Occupied", "EVConnected"),
    "Charging": ("Occupied", "Charging"),
    "SuspendedEV": ("Occupied", "SuspendedEV"),
    "SuspendedEVSE": ("Occupied", "SuspendedEVSE"),
    "Finishing": ("Occupied", "EVConnected"),
    "Reserved": ("Reserved", "Idle"),
    "Unavailable": ("Unavailable", "Idle"),
    "Faulted": ("Faulted", "Idle"),
}


def connector_status(state: str) -> ConnectorStatus201:
    return CONNECTOR_STATES[state][0]


def station_status(states: list[str], emergency_stop: bool) -> ConnectorStatus201:
    """ChargingStation.AvailabilityState: Faulted on an emergency stop, Unavailable when no EVSE can charge,
    Occupied when none is free, else Available."""
    if emergency_stop:
        return "Faulted"
    mapped = [connector_status(s) for s in states]
    if all(m in ("Unavailable", "Faulted") for m in mapped):
        return "Unavailable" if "Unavailable" in mapped else "Faulted"
    return "Available" if "Available" in mapped else "Occupied"
