"""`chargepi meter scan`: probe device addresses on a bus and name the known models that answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hal.contract import MeterError
from hal.meters.bus import BusUnavailable, ModbusBus, NoAnswer
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.registermap import MeterMap, builtin_maps


@dataclass
class ScanHit:
    device_id: int
    models: list[str] = field(default_factory=list)  # maps whose registers all decode plausibly
    readings: dict[str, dict[str, float | None]] = field(default_factory=dict)


def _plausible(values: dict[str, float | None]) -> bool:
    energy = values.get("energy_import")
    if energy is None or energy < 0:
        return False
    volts = [v for k, v in values.items() if k.startswith("voltage") and v is not None]
    return all(v == 0 or 50 <= v <= 500 for v in volts)


def distinct_maps() -> list[MeterMap]:
    seen: dict[str, MeterMap] = {}
    for meter_map in builtin_maps().values():
        seen.setdefault(meter_map.name, meter_map)
    return list(seen.values())


async def scan(bus: ModbusBus, device_ids: range, maps: list[MeterMap] | None = None,
               progress: Callable[[int, ScanHit | None], None] | None = None) -> list[ScanHit]:
    """Addresses that answer anything, each with the models it looks like. An address whose first probe
    times out is skipped (nothing there). `progress(address, hit or None)` after each address."""
    maps = maps if maps is not None else distinct_maps()
    hits: list[ScanHit] = []
    bus.acquire()
    try:
        for device_id in device_ids:
            hit: ScanHit | None = None
            for meter_map in maps:
                meter = ModbusMeter(bus, device_id, meter_map)
                try:
                    values = await meter.read_values()
                except BusUnavailable:
                    raise
                except NoAnswer:
                    if hit is None:
                        break
                    continue
                except MeterError:  # answered with an exception: present, but not this model
                    hit = hit or ScanHit(device_id)
                    continue
                hit = hit or ScanHit(device_id)
                if _plausible(values):
                    hit.models.append(meter_map.name)
                    hit.readings[meter_map.name] = values
            if hit is not None:
                hits.append(hit)
            if progress is not None:
                progress(device_id, hit)
    finally:
        bus.release()
    return hits
