"""The charger's connector states in OCPP 2.0.1 terms (docs/reference/ocpp201.md §3): the five
connectorStatus values of StatusNotification (also AvailabilityState in the device model) and the
chargingState of a transaction. The table is keyed by the core's connector state (vocabulary.ConnectorState,
`connectors[].state` of the status document)."""

from __future__ import annotations

from typing import Literal

from firmware.core.vocabulary import ConnectorState, StopReason

ConnectorStatus201 = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
ChargingState = Literal["Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"]

# state → (connectorStatus, chargingState while a transaction runs)
CONNECTOR_STATES: dict[ConnectorState, tuple[ConnectorStatus201, ChargingState]] = {
    ConnectorState.AVAILABLE: ("Available", "Idle"),
    ConnectorState.PREPARING: ("Occupied", "EVConnected"),
    ConnectorState.CHARGING: ("Occupied", "Charging"),
    ConnectorState.SUSPENDED_EV: ("Occupied", "SuspendedEV"),
    ConnectorState.SUSPENDED_EVSE: ("Occupied", "SuspendedEVSE"),
    ConnectorState.FINISHING: ("Occupied", "EVConnected"),
    ConnectorState.RESERVED: ("Reserved", "Idle"),
    ConnectorState.UNAVAILABLE: ("Unavailable", "Idle"),
    ConnectorState.FAULTED: ("Faulted", "Idle"),
}


def connector_status(state: ConnectorState) -> ConnectorStatus201:
    return CONNECTOR_STATES[state][0]


def station_status(states: list[ConnectorState], emergency_stop: bool) -> ConnectorStatus201:
    """ChargingStation.AvailabilityState: Faulted on an emergency stop, Unavailable when no EVSE can charge,
    Occupied when none is free, else Available."""
    if emergency_stop:
        return "Faulted"
    mapped = [connector_status(s) for s in states]
    if all(m in ("Unavailable", "Faulted") for m in mapped):
        return "Unavailable" if "Unavailable" in mapped else "Faulted"
    return "Available" if "Available" in mapped else "Occupied"


def charging_state(state: ConnectorState) -> ChargingState:
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
    StopReason.MASTER_PASS: ("StopAuthorized", "MasterPass"),  # C16
}
