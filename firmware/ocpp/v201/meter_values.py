"""Builds OCPP 2.0.1 MeterValueType entries from a meter reading (docs/reference/ocpp201.md §6).

In 2.0.1 a SampledValue's `value` is a number and its unit goes in `unitOfMeasure {unit}` (schemas,
SampledValueType, UnitOfMeasureType; the unit defaults to Wh, so every other quantity names its own, the
frequency as Hz). Which measurands a reading gives, with phases and locations, is version-neutral
(firmware/ocpp/common/measurands.py). Keys are snake_case, as the `ocpp` library expects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from firmware.ocpp.common.measurands import Measured, measured
from firmware.ocpp.common.timefmt import rfc3339
from hal.types import MeterReading

FREQUENCY_UNIT = "Hz"


def _number(value: float) -> float | int:
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _sampled(m: Measured, context: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": _number(m.value), "context": context, "measurand": m.measurand,
                             "location": m.location,
                             "unit_of_measure": {"unit": m.unit or FREQUENCY_UNIT}}
    if m.phase is not None:
        entry["phase"] = m.phase
    return entry


def meter_value(when: datetime, reading: MeterReading, measurands: list[str], context: str,
                offered_a: float | None = None, temperature_c: float | None = None) -> dict[str, Any] | None:
    """One MeterValueType with the configured measurands; None when the reading gives none of them."""
    values = [_sampled(m, context) for m in measured(reading, measurands, offered_a, temperature_c)]
    if not values:
        return None
    return {"timestamp": rfc3339(when), "sampled_value": values}
