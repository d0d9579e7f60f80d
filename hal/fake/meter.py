"""Simulated energy meters: the connector's meter, and a grid meter at the site's supply point."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hal.clock import Clock
from hal.contract import MeterError
from hal.fake.faults import SimFault
from hal.fake.world import WorldPart
from hal.types import MeterReading

if TYPE_CHECKING:
    from hal.fake.connector import SimulatedConnector

FREQUENCY_HZ = 50.0


class SimulatedMeter(WorldPart):
    """Per-phase V/A/W and total import energy, integrated from the EV's draw over simulated time."""

    async def read(self) -> MeterReading:
        world = self._world
        with world.lock:
            if SimFault.METER_OFFLINE in world.faults:
                raise MeterError("simulated meter offline (fault meter-offline)")
            world.integrate()
            world.saver.energy_changed()  # the register on file is never behind a reading handed out
            return _reading(world.energy_wh, world.voltage_v, world.drawn_a())


def _reading(energy_wh: float, voltage_v: float, current_a: Sequence[float]) -> MeterReading:
    return MeterReading(
        energy_import_wh=energy_wh,
        voltage_v=tuple(voltage_v for _ in current_a),
        current_a=tuple(current_a),
        power_w=tuple(voltage_v * a for a in current_a),
        frequency_hz=FREQUENCY_HZ,
    )


class SimulatedGridMeter:
    """The site's supply meter: the other loads (`set_site_load`) plus every simulated connector's draw."""

    def __init__(
        self, clock: Clock, connectors: Sequence[SimulatedConnector], *, voltage_v: float = 230.0
    ) -> None:
        self._clock = clock
        self._connectors = list(connectors)
        self._voltage_v = voltage_v
        self._lock = threading.Lock()
        self._site_load_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._site_energy_wh = 0.0
        self._integrated_at = clock.monotonic()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def site_load_a(self) -> tuple[float, float, float]:
        return self._site_load_a

    def set_site_load(self, amps: Sequence[float]) -> None:
        """Current per phase of everything on site except the chargers; one value means all three phases."""
        values = tuple(float(a) for a in amps)
        if len(values) == 1:
            values = values * 3
        if len(values) != 3 or any(a < 0 for a in values):
            raise ValueError(f"site load needs 1 or 3 non-negative currents, got {list(amps)}")
        with self._lock:
            self._integrate()
            self._site_load_a = (values[0], values[1], values[2])

    def _integrate(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._integrated_at)
        self._site_energy_wh += sum(self._site_load_a) * self._voltage_v * elapsed / 3600.0
        self._integrated_at = now

    async def read(self) -> MeterReading:
        currents = list(self._site_load_a)
        energy = 0.0
        for connector in self._connectors:
            snap = connector.meter_state()
            energy += snap[0]
            for i, amps in enumerate(snap[1]):
                currents[i] += amps
        with self._lock:
            self._integrate()
            energy += self._site_energy_wh
        return _reading(energy, self._voltage_v, currents)
