"""The core's vocabulary in OCPP 1.6 terms: one data table per 1.6 enum, so nothing of the core reaches the
wire by its own spelling.

Outgoing: connector status -> ChargePointStatus, fault code -> ChargePointErrorCode, stop reason ->
Reason (OCPP 1.6 edition 2 §7.7, §7.6, §7.32, docs/ocpp16.md). Incoming: AuthorizationStatus of an
idTagInfo -> the core's authorization result (§7.2). tests/ocpp/test_vocabulary16.py checks that every
value of the core maps and that every table lands in the 1.6 enum.
"""

from __future__ import annotations

from types import MappingProxyType

from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, Reason

from firmware.core.authorization import AuthStatus
from firmware.core.vocabulary import ConnectorStatus, ErrorCode, StopReason

STATUS = MappingProxyType({
    ConnectorStatus.AVAILABLE: ChargePointStatus.available,
    ConnectorStatus.PREPARING: ChargePointStatus.preparing,
    ConnectorStatus.CHARGING: ChargePointStatus.charging,
    ConnectorStatus.SUSPENDED_EV: ChargePointStatus.suspended_ev,
    ConnectorStatus.SUSPENDED_EVSE: ChargePointStatus.suspended_evse,
    ConnectorStatus.FINISHING: ChargePointStatus.finishing,
    ConnectorStatus.RESERVED: ChargePointStatus.reserved,
    ConnectorStatus.UNAVAILABLE: ChargePointStatus.unavailable,
    ConnectorStatus.FAULTED: ChargePointStatus.faulted,
})

ERROR_CODE = MappingProxyType({
    ErrorCode.CONNECTOR_LOCK_FAILURE: ChargePointErrorCode.connector_lock_failure,
    ErrorCode.EV_COMMUNICATION_ERROR: ChargePointErrorCode.ev_communication_error,
    ErrorCode.GROUND_FAILURE: ChargePointErrorCode.ground_failure,
    ErrorCode.HIGH_TEMPERATURE: ChargePointErrorCode.high_temperature,
    ErrorCode.INTERNAL_ERROR: ChargePointErrorCode.internal_error,
    ErrorCode.LOCAL_LIST_CONFLICT: ChargePointErrorCode.local_list_conflict,
    ErrorCode.NO_ERROR: ChargePointErrorCode.no_error,
    ErrorCode.OTHER_ERROR: ChargePointErrorCode.other_error,
    ErrorCode.OVER_CURRENT_FAILURE: ChargePointErrorCode.over_current_failure,
    ErrorCode.POWER_METER_FAILURE: ChargePointErrorCode.power_meter_failure,
    ErrorCode.POWER_SWITCH_FAILURE: ChargePointErrorCode.power_switch_failure,
    ErrorCode.READER_FAILURE: ChargePointErrorCode.reader_failure,
    ErrorCode.RESET_FAILURE: ChargePointErrorCode.reset_failure,
    ErrorCode.UNDER_VOLTAGE: ChargePointErrorCode.under_voltage,
    ErrorCode.OVER_VOLTAGE: ChargePointErrorCode.over_voltage,
    ErrorCode.WEAK_SIGNAL: ChargePointErrorCode.weak_signal,
})

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
