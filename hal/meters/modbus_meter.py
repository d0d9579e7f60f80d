"""The EnergyMeter part for any Modbus meter described by a register map."""

from __future__ import annotations

import logging

from hal.contract import MeterError
from hal.meters.bus import ModbusBus
from hal.meters.registermap import MeterMap, ReadBlock, decode, plan_reads
from hal.types import MeterReading

log = logging.getLogger(__name__)


class ModbusMeter:
    def __init__(self, bus: ModbusBus, device_id: int, meter_map: MeterMap) -> None:
        self.bus = bus
        self.device_id = device_id
        self.map = meter_map
        self._blocks: list[ReadBlock] = plan_reads(meter_map)
        self._gap_s = meter_map.request_gap_ms / 1000.0

    async def start(self) -> None:
        self.bus.acquire()
        try:
            await self.read()
        except MeterError as exc:  # not fatal: the core reports PowerMeterFailure and keeps polling
            log.warning("%s (device %d) not answering at start: %s", self.map.name, self.device_id, exc)

    async def stop(self) -> None:
        self.bus.release()

    async def read_values(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for block in self._blocks:
            words = await self.bus.read(
                self.device_id, block.function_code, block.address, block.count, self._gap_s
            )
            for reg in block.registers:
                offset = reg.address - block.address
                raw = decode(words[offset : offset + reg.count], reg.data_type, reg.word_order)
                values[reg.quantity] = None if raw is None else raw * reg.scale
        return values

    async def read(self) -> MeterReading:
        values = await self.read_values()
        energy = values.get("energy_import")
        if energy is None:
            raise MeterError(
                f"{self.map.name} (device {self.device_id}) reports its energy register as not available"
            )
        return MeterReading(
            energy_import_wh=round(energy, 3),
            voltage_v=_phases(values, "voltage"),
            current_a=_phases(values, "current"),
            power_w=_phases(values, "power"),
            frequency_hz=values.get("frequency"),
            power_total_w=values.get("power_total"),
        )


def _phases(values: dict[str, float | None], prefix: str) -> tuple[float, ...]:
    """L1..L3 values present in the map; empty when any of them is "not available" (no partial tuples)."""
    found = [values[f"{prefix}_l{n}"] for n in (1, 2, 3) if f"{prefix}_l{n}" in values]
    if any(v is None for v in found):
        return ()
    return tuple(round(v, 4) for v in found if v is not None)
