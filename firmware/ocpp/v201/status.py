"""The charger's connector states in OCPP 2.0.1 terms (docs/reference/ocpp201.md §3): the five
connectorStatus values of StatusNotification (also AvailabilityState in the device model) and the
chargingState of a transaction. The table is keyed by the state names of the status document
(`chargepi status --json`, connectors[].status)."""

from __future__ import annotations

from typing import Literal

from firmware.core.vocabulary import StopReason

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


def charging_state(state: str) -> ChargingState:
    """A running transaction's chargingState for the connector state (TransactionEvent, E02.FR.13)."""
    return CONNECTOR_STATES[state][1]


# Why the core ended a session → (triggerReason, stoppedReason) of the TransactionEvent that reports it
# (docs/reference/ocpp201.md §6: TriggerReasonEnumType, ReasonEnumType).
STOPS: dict[StopReason, tuple[str, str]] = {
    StopReason.EMERGENCY_STOP: ("AbnormalCondition", "EmergencyStop"),
    StopReason.EV_DISCONNECTED: ("EVCommunicationLost", "EVDisconnected"),
    StopReason.HARD_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.LOCAL: ("StopAuthorized", "Local"),
    StopReason.OTHER: ("AbnormalCondition", "Other"),
    StopReason.POWER_LOSS: ("AbnormalCondition", "PowerLoss"),
    StopReason.REBOOT: ("ResetCommand", "Reboot"),
    StopReason.REMOTE: ("RemoteStop", "Remote"),
    StopReason.SOFT_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.UNLOCK_COMMAND: ("UnlockCommand", "Other"),
    StopReason.DEAUTHORIZED: ("Deauthorized", "DeAuthorized"),
}
