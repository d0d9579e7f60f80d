"""Value types shared by the HAL contract and the firmware: pilot states, readings, cable ratings."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CPState(enum.StrEnum):
    """IEC 61851-1 control pilot state as seen by the EVSE (Table A.4 via docs/reference/hardware.md §1.3)."""

    A = "A"  # +12 V: no vehicle
    B = "B"  # +9 V: vehicle connected, not asking for power
    C = "C"  # +6 V: vehicle asks for power
    D = "D"  # +3 V: vehicle asks for power, ventilation required
    E = "E"  # 0 V: CP shorted to PE or EVSE unpowered
    F = "F"  # -12 V: EVSE signals "not available"
    INVALID = "INVALID"  # out of every band: pilot fault


class PilotOutputMode(enum.StrEnum):
    """What the EVSE drives on the CP line."""

    PWM = "pwm"  # 1 kHz PWM, duty encodes the offered current (x2)
    HIGH = "high"  # steady +12 V, no PWM (x1)
    NEGATIVE = "negative"  # steady -12 V (state F)
    OFF = "off"  # driver disabled, 0 V (state E)


@dataclass(frozen=True, slots=True)
class PilotOutput:
    mode: PilotOutputMode
    duty_percent: float = 100.0

    @staticmethod
    def pwm(duty_percent: float) -> PilotOutput:
        return PilotOutput(PilotOutputMode.PWM, duty_percent)


PILOT_HIGH = PilotOutput(PilotOutputMode.HIGH, 100.0)
PILOT_F = PilotOutput(PilotOutputMode.NEGATIVE, 0.0)
PILOT_OFF = PilotOutput(PilotOutputMode.OFF, 0.0)


@dataclass(frozen=True, slots=True)
class PilotReading:
    """One classified CP measurement: the state, the peaks it came from, and the diode check."""

    state: CPState
    positive_v: float
    negative_v: float
    diode_fault: bool = False


class CableAmpacity(enum.IntEnum):
    """Type 2 cable coding (PP resistor) as a current rating; NONE = no plug or PP fault
    (docs/reference/hardware.md §3)."""

    NONE = 0
    A13 = 13
    A20 = 20
    A32 = 32
    A63 = 63


@dataclass(frozen=True, slots=True)
class ProximityReading:
    ampacity: CableAmpacity
    resistance_ohm: float | None
    fault: bool = False


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A snapshot of the connector's energy meter. Per-phase lists are L1, L2, L3 (shorter for 1-phase)."""

    energy_import_wh: float
    voltage_v: tuple[float, ...] = ()
    current_a: tuple[float, ...] = ()
    power_w: tuple[float, ...] = ()
    frequency_hz: float | None = None
    power_total_w: float | None = None

    @property
    def total_power_w(self) -> float:
        if self.power_total_w is not None:
            return self.power_total_w
        return sum(self.power_w)


class IndicatorState(enum.StrEnum):
    """What the status LED shows."""

    BOOTING = "booting"
    AVAILABLE = "available"
    CONNECTED = "connected"
    CHARGING = "charging"
    SUSPENDED = "suspended"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULT = "fault"


@dataclass(slots=True)
class SelfTestResult:
    passed: bool
    detail: str = ""
    values: dict[str, float] = field(default_factory=dict)
    # Not run: the monitor already signalled a fault current (a trip, not a broken monitor).
    monitor_tripped: bool = False
