"""Builds OCPP 1.6 MeterValue entries from a meter reading: measurands, units, phases, contexts, locations.

Values are strings (1.6 SampledValue.value) with their `unit`; which measurands a reading gives, in which
unit, phase and location, is version-neutral (firmware/ocpp/common/measurands.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from firmware.ocpp.common.measurands import Measured, measured
from firmware.ocpp.common.timefmt import rfc3339
from hal.types import MeterReading


def number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _value(m: Measured, context: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": number(m.value), "context": context, "format": "Raw",
                             "measurand": m.measurand, "location": m.location}
    if m.phase is not None:
        entry["phase"] = m.phase
    if m.unit is not None:
        entry["unit"] = m.unit
    return entry


def sampled_values(reading: MeterReading, measurands: list[str], context: str, offered_a: float | None = None,
                   temperature_c: float | None = None) -> list[dict[str, Any]]:
    """SampledValue dicts (snake_case keys as the ocpp library expects) for the configured measurands."""
    return [_value(m, context) for m in measured(reading, measurands, offered_a, temperature_c)]


def meter_value(when: datetime, reading: MeterReading, measurands: list[str], context: str,
                offered_a: float | None = None, temperature_c: float | None = None) -> dict[str, Any] | None:
    values = sampled_values(reading, measurands, context, offered_a, temperature_c)
    if not values:
        return None
    return {"timestamp": rfc3339(when), "sampled_value": values}
