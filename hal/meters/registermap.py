"""Meter register maps: one TOML data file per meter family under hal/meters/maps/, or a map given inline
in the config, validated with the same model. Decoding of register words into values lives here too."""

from __future__ import annotations

import math
import struct
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
WordOrder = Literal["big", "little"]

_STRUCT: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float32": ("f", 2),
    "float64": ("d", 4),
}

QUANTITIES = (
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "power_l1",
    "power_l2",
    "power_l3",
    "power_total",
    "frequency",
    "energy_import",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterSpec(_Strict):
    """One value: PDU address (0-based) plus optional overrides of the map's defaults."""

    address: int = Field(ge=0, le=0xFFFF)
    function_code: Literal[3, 4] | None = None
    data_type: DataType | None = None
    word_order: WordOrder | None = None
    scale: float = 1.0  # multiply the raw value by this to get V, A, W, Hz, or Wh for energy


class MeterMap(_Strict):
    """A meter model's register map. Energy must come out in Wh (set `scale` accordingly)."""

    name: str
    models: list[str] = Field(default_factory=list)  # names accepted in `model = ...`
    function_code: Literal[3, 4] = 4
    data_type: DataType = "float32"
    word_order: WordOrder = "big"
    max_registers_per_read: int = Field(default=60, ge=1, le=125)
    max_gap: int = Field(default=0, ge=0, le=64)  # unused registers a single read may span
    request_gap_ms: int = Field(default=0, ge=0, le=1000)  # silence some meters need between requests
    registers: dict[str, RegisterSpec]

    @model_validator(mode="after")
    def _check(self) -> MeterMap:
        unknown = sorted(set(self.registers) - set(QUANTITIES))
        if unknown:
            raise ValueError(f"unknown register name(s) {unknown}; allowed: {', '.join(QUANTITIES)}")
        if "energy_import" not in self.registers:
            raise ValueError("a meter map needs at least `energy_import`")
        return self

    def resolved(self, quantity: str) -> ResolvedRegister:
        spec = self.registers[quantity]
        data_type = spec.data_type or self.data_type
        return ResolvedRegister(
            quantity,
            spec.address,
            spec.function_code or self.function_code,
            data_type,
            spec.word_order or self.word_order,
            spec.scale,
            _STRUCT[data_type][1],
        )


@dataclass(frozen=True)
class ResolvedRegister:
    quantity: str
    address: int
    function_code: int
    data_type: str
    word_order: str
    scale: float
    count: int


@dataclass(frozen=True)
class ReadBlock:
    function_code: int
    address: int
    count: int
    registers: tuple[ResolvedRegister, ...]


def plan_reads(meter_map: MeterMap) -> list[ReadBlock]:
    """Group the map's registers into as few reads as the meter allows."""
    regs = sorted(
        (meter_map.resolved(q) for q in meter_map.registers), key=lambda r: (r.function_code, r.address)
    )
    blocks: list[ReadBlock] = []
    current: list[ResolvedRegister] = []
    for reg in regs:
        if current:
            first = current[0]
            end = max(r.address + r.count for r in current)
            fits = (
                reg.function_code == first.function_code
                and reg.address - end <= meter_map.max_gap
                and reg.address + reg.count - first.address <= meter_map.max_registers_per_read
            )
            if not fits:
                blocks.append(_block(current))
                current = []
        current.append(reg)
    if current:
        blocks.append(_block(current))
    return blocks


def _block(regs: list[ResolvedRegister]) -> ReadBlock:
    start = regs[0].address
    end = max(r.address + r.count for r in regs)
    return ReadBlock(regs[0].function_code, start, end - start, tuple(regs))


def decode(words: list[int], data_type: str, word_order: str) -> float | None:
    """Register words -> number; None for the "not available" patterns (all ones for unsigned, the
    largest positive value for signed, NaN/inf for floats; docs/reference/hardware.md §5.2)."""
    code, count = _STRUCT[data_type]
    if len(words) != count:
        raise ValueError(f"{data_type} needs {count} registers, got {len(words)}")
    ordered = words if word_order == "big" else list(reversed(words))
    raw = b"".join(w.to_bytes(2, "big") for w in ordered)
    value: float = struct.unpack(">" + code, raw)[0]
    bits = 16 * count
    if data_type.startswith("uint") and value == (1 << bits) - 1:
        return None
    if data_type.startswith("int") and value == (1 << (bits - 1)) - 1:
        return None
    if data_type.startswith("float") and not math.isfinite(value):
        return None
    return value


@cache
def builtin_maps() -> dict[str, MeterMap]:
    """Every packaged map, keyed by each of its model names (lower case)."""
    found: dict[str, MeterMap] = {}
    for entry in sorted(resources.files("hal.meters.maps").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            meter_map = MeterMap.model_validate(tomllib.loads(entry.read_text()))
            for name in [entry.name.removesuffix(".toml"), *meter_map.models]:
                found[name.lower()] = meter_map
    return found


def builtin_model_names() -> list[str]:
    return sorted(builtin_maps())
