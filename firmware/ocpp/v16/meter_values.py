"""Builds OCPP 1.6 MeterValue entries from a meter reading: measurands, units, phases, contexts, locations.

Values are strings (1.6 SampledValue.value); energy in Wh, power in W, current in A, voltage in V
(OCPP 1.6 §7.31-7.34), temperature in Celsius. Per-phase current and voltage carry L1/L2/L3 (voltage as
Lx-N).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from firmware.ocpp.common.timefmt import rfc3339
from hal.types import MeterReading

PHASES = ("L1", "L2", "L3")


def number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _value(value: float, measurand: str, context: str, unit: str | None, phase: str | None = None,
           location: str = "Outlet") -> dict[str, Any]:
    entry: dict[str, Any] = {"value": number(value), "context": context, "format": "Raw",
                             "measurand": measurand, "location": location}
    if phase is not None:
        entry["phase"] = phase
    if unit is not None:
        entry["unit"] = unit
    return entry


def sampled_values(reading: MeterReading, measurands: list[str], context: str, offered_a: float | None = None,
                   temperature_c: float | None = None) -> list[dict[str, Any]]:
    """SampledValue dicts (snake_case keys as the ocpp library expects) for the configured measurands."""
    out: list[dict[str, Any]] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(_value(reading.energy_import_wh, measurand, context, "Wh"))
        elif measurand == "Power.Active.Import":
            out.append(_value(reading.total_power_w, measurand, context, "W"))
            if len(reading.power_w) > 1:
                out.extend(_value(w, measurand, context, "W", PHASES[i])
                           for i, w in enumerate(reading.power_w[:3]))
        elif measurand == "Current.Import":
            out.extend(_value(a, measurand, context, "A", PHASES[i])
                       for i, a in enumerate(reading.current_a[:3]))
        elif measurand == "Voltage":
            out.extend(_value(v, measurand, context, "V", PHASES[i] + "-N")
                       for i, v in enumerate(reading.voltage_v[:3]))
        elif measurand == "Frequency" and reading.frequency_hz is not None:
            out.append(_value(reading.frequency_hz, measurand, context, None))
        elif measurand == "Current.Offered" and offered_a is not None:
            out.append(_value(offered_a, measurand, context, "A"))
        elif measurand == "Temperature" and temperature_c is not None:
            # The connector's sensor sits inside the charger: location Body (1.6 §7.29).
            out.append(_value(temperature_c, measurand, context, "Celsius", location="Body"))
    return out


def meter_value(when: datetime, reading: MeterReading, measurands: list[str], context: str,
                offered_a: float | None = None, temperature_c: float | None = None) -> dict[str, Any] | None:
    values = sampled_values(reading, measurands, context, offered_a, temperature_c)
    if not values:
        return None
    return {"timestamp": rfc3339(when), "sampled_value": values}
