"""The faults the simulated hardware can be told to show, by the names the CLI uses."""

from __future__ import annotations

import enum


class SimFault(enum.StrEnum):
    DIODE = "diode"  # EV diode shorted: the negative PWM half mirrors the positive one
    CP_SHORT = "cp-short"  # CP shorted to PE: state E
    RCD = "rcd"  # residual-current monitor tripped
    RCD_SELFTEST = "rcd-selftest"  # the RCM self test fails
    WELDED = "welded"  # main contactor contacts stuck closed once closed
    FEEDBACK_MISSING = "feedback-missing"  # main contactor does not pull in (or drops out): contacts open
    STUCK_CLOSED = "stuck-closed"  # main contactor contacts close without a command (stuck coil driver)
    LOCK = "lock"  # socket lock actuator fails to lock
    OVER_TEMPERATURE = "over-temperature"  # temperature sensor reads 80 °C
    METER_OFFLINE = "meter-offline"  # energy meter does not answer
    PP = "pp"  # proximity resistor out of range
    OVERDRAW = "overdraw"  # EV draws 1.5 x the offered current
    POWER_CUT = "power-cut"  # the controller's supply fails: the process dies without cleanup


FAULT_NAMES: tuple[str, ...] = tuple(f.value for f in SimFault)

OVER_TEMPERATURE_C = 80.0
OVERDRAW_FACTOR = 1.5


def parse_fault(name: str) -> SimFault:
    """The fault called `name`, or ValueError listing the valid names."""
    try:
        return SimFault(name)
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; valid faults: {', '.join(FAULT_NAMES)}") from None
