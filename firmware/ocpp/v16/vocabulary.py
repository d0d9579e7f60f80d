"""The core's vocabulary in OCPP 1.6 terms: one data table per 1.6 enum, so nothing of the core reaches the
wire by its own spelling.

Outgoing: connector state -> ChargePointStatus, fault -> ChargePointErrorCode (vendorErrorCode is the
fault's ChargeX code), stop reason -> Reason (OCPP 1.6 edition 2 §7.7, §7.6, §7.32, docs/ocpp16.md).
Incoming: AuthorizationStatus of an idTagInfo -> the core's authorization result (§7.2).
tests/ocpp/test_vocabulary16.py checks every table, value by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, Reason

from firmware.core.authorization import AuthStatus
from firmware.core.events import StatusChanged
from firmware.core.vocabulary import FAULTS, ConnectorState, Fault, StopReason

STATUS = MappingProxyType({
    ConnectorState.AVAILABLE: ChargePointStatus.available,
    ConnectorState.PREPARING: ChargePointStatus.preparing,
    ConnectorState.CHARGING: ChargePointStatus.charging,
    ConnectorState.SUSPENDED_EV: ChargePointStatus.suspended_ev,
    ConnectorState.SUSPENDED_EVSE: ChargePointStatus.suspended_evse,
    ConnectorState.FINISHING: ChargePointStatus.finishing,
    ConnectorState.RESERVED: ChargePointStatus.reserved,
    ConnectorState.UNAVAILABLE: ChargePointStatus.unavailable,
    ConnectorState.FAULTED: ChargePointStatus.faulted,
})

# Several faults share one 1.6 code; vendorErrorCode (the ChargeX code) and info tell them apart.
ERROR_CODE = MappingProxyType({
    Fault.DIODE: ChargePointErrorCode.ev_communication_error,
    Fault.CP_SHORT: ChargePointErrorCode.ev_communication_error,
    Fault.PILOT_OUT_OF_RANGE: ChargePointErrorCode.other_error,
    Fault.VENTILATION: ChargePointErrorCode.other_error,
    Fault.RCD_TRIP: ChargePointErrorCode.ground_failure,
    Fault.RCD_SELFTEST: ChargePointErrorCode.ground_failure,
    Fault.CONTACTOR_WELDED: ChargePointErrorCode.power_switch_failure,
    Fault.CONTACTOR_FEEDBACK: ChargePointErrorCode.power_switch_failure,
    Fault.LOCK: ChargePointErrorCode.connector_lock_failure,
    Fault.OVER_TEMPERATURE: ChargePointErrorCode.high_temperature,
    Fault.OVER_CURRENT: ChargePointErrorCode.over_current_failure,
    Fault.PP: ChargePointErrorCode.other_error,
    Fault.METER_OFFLINE: ChargePointErrorCode.power_meter_failure,
    Fault.EMERGENCY_STOP: ChargePointErrorCode.other_error,
    Fault.READER: ChargePointErrorCode.reader_failure,
})


def error_code(fault: Fault | None) -> ChargePointErrorCode:
    return ChargePointErrorCode.no_error if fault is None else ERROR_CODE[fault]


@dataclass(frozen=True, slots=True)
class Notification:
    """One StatusNotification.req, in 1.6 terms, as the adapter keeps and sends it."""

    connector_id: int
    status: ChargePointStatus
    error_code: ChargePointErrorCode
    vendor_error_code: str | None
    info: str | None
    timestamp: datetime


def notification(event: StatusChanged) -> Notification:
    vendor = FAULTS[event.fault].vendor_code if event.fault is not None else None
    return Notification(event.connector_id, STATUS[event.state], error_code(event.fault), vendor, event.info,
                        event.timestamp)


class StatusChanges16:
    """Which of the core's StatusChanged events are a change in 1.6 terms. The core reports every change
    of (state, leading fault); 1.6 reports changes of (status, errorCode), so a new leading fault with the
    same errorCode (diode -> cp-short, both EVCommunicationError) sends nothing, as it always did."""

    def __init__(self) -> None:
        self._last: dict[int, StatusChanged] = {}

    def visible(self, event: StatusChanged) -> bool:
        previous = self._last.get(event.connector_id)
        self._last[event.connector_id] = event
        return previous is None or previous.fault == event.fault or _wire(previous) != _wire(event)


def _wire(event: StatusChanged) -> tuple[ChargePointStatus, ChargePointErrorCode]:
    return STATUS[event.state], error_code(event.fault)


REASON = MappingProxyType({
    StopReason.EMERGENCY_STOP: Reason.emergency_stop,
    StopReason.EV_DISCONNECTED: Reason.ev_disconnected,
    StopReason.HARD_RESET: Reason.hard_reset,
    StopReason.LOCAL: Reason.local,
    StopReason.OTHER: Reason.other,
    StopReason.POWER_LOSS: Reason.power_loss,
    StopReason.REBOOT: Reason.reboot,
    StopReason.REMOTE: Reason.remote,
    StopReason.SOFT_RESET: Reason.soft_reset,
    StopReason.UNLOCK_COMMAND: Reason.unlock_command,
    StopReason.DEAUTHORIZED: Reason.de_authorized,
    StopReason.MASTER_PASS: Reason.local,  # 1.6 has no master pass: a card stopped it at the charger
})

AUTHORIZATION = MappingProxyType({
    AuthorizationStatus.accepted: AuthStatus.ACCEPTED,
    AuthorizationStatus.blocked: AuthStatus.BLOCKED,
    AuthorizationStatus.expired: AuthStatus.EXPIRED,
    AuthorizationStatus.invalid: AuthStatus.INVALID,
    AuthorizationStatus.concurrent_tx: AuthStatus.CONCURRENT_TX,
})


def auth_status(text: object) -> AuthStatus:
    """An idTagInfo.status as the core's result; anything that is not a 1.6 AuthorizationStatus is
    Invalid (a token is never accepted on a value we do not know)."""
    try:
        return AUTHORIZATION[AuthorizationStatus(str(text))]
    except ValueError:
        return AuthStatus.INVALID
