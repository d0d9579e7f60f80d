"""Words the core speaks to every adapter: connector status, faults and their error codes, stop reasons.

The values are how the status document (`chargepi status --json`), the audit trail and the session
records spell them, a public contract; they were chosen to read like OCPP 1.6. No adapter relies on
that: each OCPP version translates them through its own tables (firmware/ocpp/v16/vocabulary.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConnectorStatus(enum.StrEnum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ErrorCode(enum.StrEnum):
    """OCPP 1.6 ChargePointErrorCode (docs/reference/hardware.md §4.5)."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    OVER_VOLTAGE = "OverVoltage"
    WEAK_SIGNAL = "WeakSignal"


class Fault(enum.StrEnum):
    """Everything that can go wrong at a connector. The value is the name used in CLI and status."""

    DIODE = "diode"
    CP_SHORT = "cp-short"
    PILOT_OUT_OF_RANGE = "pilot-out-of-range"
    VENTILATION = "ventilation"
    RCD_TRIP = "rcd"
    RCD_SELFTEST = "rcd-selftest"
    CONTACTOR_WELDED = "welded"
    CONTACTOR_FEEDBACK = "feedback-missing"
    LOCK = "lock"
    OVER_TEMPERATURE = "over-temperature"
    OVER_CURRENT = "overcurrent"
    PP = "pp"
    METER_OFFLINE = "meter-offline"
    EMERGENCY_STOP = "emergency-stop"
    READER = "reader"


@dataclass(frozen=True, slots=True)
class FaultInfo:
    error_code: ErrorCode
    # ChargeX MREC code used as vendorErrorCode (docs/reference/hardware.md §4.5, EVerest error_mapping.hpp).
    vendor_code: str
    blocking: bool  # opens the contactor and makes the connector Faulted
    latched: bool  # stays until a technician clears it (`chargepi fault clear`)
    clears_on_unplug: bool  # cleared when the CP returns to state A
    description: str


FAULTS: dict[Fault, FaultInfo] = {
    Fault.DIODE: FaultInfo(ErrorCode.EV_COMMUNICATION_ERROR, "CX014", True, False, True,
                           "EV diode check failed (negative CP half mirrors the positive one)"),
    Fault.CP_SHORT: FaultInfo(ErrorCode.EV_COMMUNICATION_ERROR, "CX014", True, False, True,
                              "control pilot shorted to PE (state E)"),
    Fault.PILOT_OUT_OF_RANGE: FaultInfo(ErrorCode.OTHER_ERROR, "CX014", True, False, True,
                                        "control pilot voltage outside every IEC 61851 band"),
    Fault.VENTILATION: FaultInfo(ErrorCode.OTHER_ERROR, "CX014", True, False, True,
                                 "EV asks for ventilation (state D) but none is configured"),
    # Latched (docs/safety-supervisor.md "RCD trip"): a residual current is a fault to earth in the EV or
    # the installation; charging does not resume by itself when the monitor resets.
    Fault.RCD_TRIP: FaultInfo(ErrorCode.GROUND_FAILURE, "CX002", True, True, False,
                              "residual current monitor tripped"),
    Fault.RCD_SELFTEST: FaultInfo(ErrorCode.GROUND_FAILURE, "CX002", True, True, False,
                                  "residual current monitor failed its self test"),
    Fault.CONTACTOR_WELDED: FaultInfo(ErrorCode.POWER_SWITCH_FAILURE, "CX017", True, True, False,
                                      "contactor feedback stayed closed after opening (welded)"),
    Fault.CONTACTOR_FEEDBACK: FaultInfo(ErrorCode.POWER_SWITCH_FAILURE, "CX017", True, True, False,
                                        "contactor feedback did not confirm closing"),
    Fault.LOCK: FaultInfo(ErrorCode.CONNECTOR_LOCK_FAILURE, "CX001", True, False, True,
                          "socket lock did not confirm"),
    Fault.OVER_TEMPERATURE: FaultInfo(ErrorCode.HIGH_TEMPERATURE, "CX003", True, False, False,
                                      "temperature above the stop threshold"),
    Fault.OVER_CURRENT: FaultInfo(ErrorCode.OVER_CURRENT_FAILURE, "CX004", True, False, True,
                                  "EV drew more than offered for too long"),
    Fault.PP: FaultInfo(ErrorCode.OTHER_ERROR, "CX023", True, False, True,
                        "proximity pilot (cable coding) out of range"),
    Fault.METER_OFFLINE: FaultInfo(ErrorCode.POWER_METER_FAILURE, "CX021", False, False, False,
                                   "energy meter not answering; session continues on the last reading"),
    Fault.EMERGENCY_STOP: FaultInfo(ErrorCode.OTHER_ERROR, "CX008", True, False, False,
                                    "emergency stop pressed"),
    Fault.READER: FaultInfo(ErrorCode.READER_FAILURE, "CX024", False, False, False,
                            "RFID reader not responding"),
}


class StopReason(enum.StrEnum):
    """OCPP 1.6 StopTransaction reason values."""

    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DEAUTHORIZED = "DeAuthorized"


class LimitSource(enum.StrEnum):
    """Named inputs of the current arbiter. The offered current is the minimum of all that are set."""

    HARDWARE = "hardware"  # the connector's rated current
    CABLE = "cable"  # PP cable ampacity, or the tethered cable's rating
    CONFIGURED = "configured"  # max_current from the config file
    TEMPERATURE = "temperature"  # derating
    SMART_CHARGING = "smart_charging"  # CSMS charging profiles
    LOAD_MANAGEMENT = "load_management"  # site/circuit share
    DEMAND_RESPONSE = "demand_response"  # grid operator input
    EXTERNAL = "external"  # `chargepi limit set`
    AUTHORIZATION = "authorization"  # 0 A while a session is suspended for an invalid id
    EV = "ev"  # never set by the EVSE; reserved name for reporting the EV's own maximum
