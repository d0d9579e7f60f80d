"""The status document's spellings of the core's words: `connectors[].status` and `connectors[].error_code`
of `chargepi status --json`, the audit trail, the display texts and the systemd status line.

These spellings are a public contract older than the neutral vocabulary (scripts, dashboards and the
display translations read them), so they never change; they happen to read like OCPP 1.6. No protocol
adapter uses them: each OCPP version maps the core's states and faults through its own tables.
"""

from __future__ import annotations

from types import MappingProxyType

from firmware.core.vocabulary import ConnectorState, Fault

STATUS = MappingProxyType({
    ConnectorState.AVAILABLE: "Available",
    ConnectorState.PREPARING: "Preparing",
    ConnectorState.CHARGING: "Charging",
    ConnectorState.SUSPENDED_EV: "SuspendedEV",
    ConnectorState.SUSPENDED_EVSE: "SuspendedEVSE",
    ConnectorState.FINISHING: "Finishing",
    ConnectorState.RESERVED: "Reserved",
    ConnectorState.UNAVAILABLE: "Unavailable",
    ConnectorState.FAULTED: "Faulted",
})

NO_ERROR = "NoError"  # error_code while no fault is active
ERROR_CODE = MappingProxyType({
    Fault.DIODE: "EVCommunicationError",
    Fault.CP_SHORT: "EVCommunicationError",
    Fault.PILOT_OUT_OF_RANGE: "OtherError",
    Fault.VENTILATION: "OtherError",
    Fault.RCD_TRIP: "GroundFailure",
    Fault.RCD_SELFTEST: "GroundFailure",
    Fault.CONTACTOR_WELDED: "PowerSwitchFailure",
    Fault.CONTACTOR_FEEDBACK: "PowerSwitchFailure",
    Fault.LOCK: "ConnectorLockFailure",
    Fault.OVER_TEMPERATURE: "HighTemperature",
    Fault.OVER_CURRENT: "OverCurrentFailure",
    Fault.PP: "OtherError",
    Fault.METER_OFFLINE: "PowerMeterFailure",
    Fault.EMERGENCY_STOP: "OtherError",
    Fault.READER: "ReaderFailure",
})


def status_label(state: ConnectorState) -> str:
    return STATUS[state]


def error_label(fault: Fault | None) -> str:
    """The error_code of a connector whose leading fault is `fault` (None: no fault)."""
    return NO_ERROR if fault is None else ERROR_CODE[fault]
