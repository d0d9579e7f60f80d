"""The measurands a meter reading offers, version-neutral: which quantities, in which unit, on which phase
and at which location. Each OCPP version writes them in its own shape (1.6: string values with `unit`,
firmware/ocpp/v16/meter_values.py; 2.0.1: numbers with `unitOfMeasure`, firmware/ocpp/v201/meter_values.py).

Energy in Wh, power in W, current in A, voltage in V, temperature in Celsius (the measurand units of OCPP
1.6 §7.31-7.34 and 2.0.1 MeasurandEnumType). Per-phase current and voltage carry L1/L2/L3 (voltage as
Lx-N); the total power comes first, then per phase when the meter has several. The connector's temperature
sensor sits inside the charger: location Body; everything else is measured at the Outlet.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.types import MeterReading

PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class Measured:
    measurand: str
    value: float
    unit: str | None
    phase: str | None = None
    location: str = "Outlet"


def measured(reading: MeterReading, measurands: list[str], offered_a: float | None = None,
             temperature_c: float | None = None) -> list[Measured]:
    """The configured measurands this reading (and the offer and temperature) can give, in order."""
    out: list[Measured] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(Measured(measurand, reading.energy_import_wh, "Wh"))
        elif measurand == "Power.Active.Import":
            out.append(Measured(measurand, reading.total_power_w, "W"))
            if len(reading.power_w) > 1:
                out.extend(Measured(measurand, w, "W", PHASES[i]) for i, w in enumerate(reading.power_w[:3]))
        elif measurand == "Current.Import":
            out.extend(Measured(measurand, a, "A", PHASES[i]) for i, a in enumerate(reading.current_a[:3]))
        elif measurand == "Voltage":
            out.extend(Measured(measurand, v, "V", f"{PHASES[i]}-N")
                       for i, v in enumerate(reading.voltage_v[:3]))
        elif measurand == "Frequency" and reading.frequency_hz is not None:
            out.append(Measured(measurand, reading.frequency_hz, None))
        elif measurand == "Current.Offered" and offered_a is not None:
            out.append(Measured(measurand, offered_a, "A"))
        elif measurand == "Temperature" and temperature_c is not None:
            out.append(Measured(measurand, temperature_c, "Celsius", location="Body"))
    return out
