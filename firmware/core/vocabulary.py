"""Words the core speaks to every adapter: connector states, faults, stop reasons, limit sources.

They are the charger's own: no OCPP version's enum appears here. Each OCPP version translates them
through its own tables (firmware/ocpp/v16/vocabulary.py; firmware/ocpp/v201/status.py and faults.py).
The status document keeps its historical spellings through firmware/core/published.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConnectorState(enum.StrEnum):
    """Where a connector's charging state machine is (firmware/core/connector.py). The value is the
    charger's own name (status document `connectors[].state`, kebab-case); each OCPP version maps it to its
    own status words (firmware/ocpp/v16/vocabulary.py, firmware/ocpp/v201/status.py)."""

    AVAILABLE = "available"  # free: no EV, no session, no reservation
    PREPARING = "preparing"  # EV plugged or token accepted, no session yet
    CHARGING = "charging"  # session running, EV draws (CP state C/D)
    SUSPENDED_EV = "suspended-ev"  # session running, the EV does not draw (CP state B)
    SUSPENDED_EVSE = "suspended-evse"  # session running, the station offers nothing (limit below 6 A)
    FINISHING = "finishing"  # session over, EV still plugged
    RESERVED = "reserved"  # held for one id tag
    UNAVAILABLE = "unavailable"  # taken out of service (operative = false)
    FAULTED = "faulted"  # a blocking fault holds the contactor open


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
    # ChargeX MREC code (docs/reference/hardware.md §4.5, EVerest error_mapping.hpp): what the fault is called
    # outside the charger, whatever the protocol (1.6 vendorErrorCode, 2.0.1 techCode).
    vendor_code: str
    blocking: bool  # opens the contactor and makes the connector Faulted
    latched: bool  # stays until a technician clears it (`chargepi fault clear`)
    clears_on_unplug: bool  # cleared when the CP returns to state A
    description: str


FAULTS: dict[Fault, FaultInfo] = {
    Fault.DIODE: FaultInfo("CX014", True, False, True,
                           "EV diode check failed (negative CP half mirrors the positive one)"),
    Fault.CP_SHORT: FaultInfo("CX014", True, False, True,
                              "control pilot shorted to PE (state E)"),
    Fault.PILOT_OUT_OF_RANGE: FaultInfo("CX014", True, False, True,
                                        "control pilot voltage outside every IEC 61851 band"),
    Fault.VENTILATION: FaultInfo("CX014", True, False, True,
                                 "EV asks for ventilation (state D) but none is configured"),
    # Latched (docs/safety-supervisor.md "RCD trip"): a residual current is a fault to earth in the EV or
    # the installation; charging does not resume by itself when the monitor resets.
    Fault.RCD_TRIP: FaultInfo("CX002", True, True, False,
                              "residual current monitor tripped"),
    Fault.RCD_SELFTEST: FaultInfo("CX002", True, True, False,
                                  "residual current monitor failed its self test"),
    Fault.CONTACTOR_WELDED: FaultInfo("CX017", True, True, False,
                                      "contactor feedback stayed closed after opening (welded)"),
    Fault.CONTACTOR_FEEDBACK: FaultInfo("CX017", True, True, False,
                                        "contactor feedback did not confirm closing"),
    Fault.LOCK: FaultInfo("CX001", True, False, True,
                          "socket lock did not confirm"),
    Fault.OVER_TEMPERATURE: FaultInfo("CX003", True, False, False,
                                      "temperature above the stop threshold"),
    Fault.OVER_CURRENT: FaultInfo("CX004", True, False, True,
                                  "EV drew more than offered for too long"),
    Fault.PP: FaultInfo("CX023", True, False, True,
                        "proximity pilot (cable coding) out of range"),
    Fault.METER_OFFLINE: FaultInfo("CX021", False, False, False,
                                   "energy meter not answering; session continues on the last reading"),
    Fault.EMERGENCY_STOP: FaultInfo("CX008", True, False, False,
                                    "emergency stop pressed"),
    Fault.READER: FaultInfo("CX024", False, False, False,
                            "RFID reader not responding"),
}


class StopReason(enum.StrEnum):
    """Why a session ended. The value is how session records and the audit trail spell it (stored, so it
    keeps its historical spelling); each OCPP version maps it (1.6 Reason, 2.0.1 stoppedReason)."""

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
    MASTER_PASS = "MasterPass"  # a master-pass card ended every session


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
