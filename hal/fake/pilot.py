"""Simulated control pilot: records what the firmware drives, reports what the EV makes of it."""

from __future__ import annotations

from collections.abc import Callable

from hal.contract import Unsubscribe
from hal.fake.world import ConnectorWorld
from hal.pubsub import Notification, Watched
from hal.types import PILOT_HIGH, PilotOutput, PilotReading


class SimulatedPilot:
    """`history` lists every (monotonic time, output) the firmware set, for tests to inspect."""

    def __init__(self, world: ConnectorWorld) -> None:
        self._world = world
        self._reading: Watched[PilotReading] = Watched(
            world.pilot_reading(), "simulated control pilot", key=lambda r: (r.state, r.diode_fault)
        )
        world.watch(self._check)

    def _check(self) -> list[Notification]:
        return self._reading.update(self._world.pilot_reading())

    async def start(self) -> None:
        self._world.remember_loop()

    async def stop(self) -> None:
        self.set_output(PILOT_HIGH)

    def set_output(self, output: PilotOutput) -> None:
        world = self._world

        def apply() -> None:
            world.output = output
            world.output_history.append((world.clock.monotonic(), output))

        world.change(apply)

    @property
    def output(self) -> PilotOutput:
        return self._world.output

    @property
    def history(self) -> list[tuple[float, PilotOutput]]:
        with self._world.lock:
            return list(self._world.output_history)

    @property
    def duty_resolution_percent(self) -> float:
        return 0.0

    def read(self) -> PilotReading:
        with self._world.lock:
            return self._world.pilot_reading()

    def subscribe(self, callback: Callable[[PilotReading], None]) -> Unsubscribe:
        return self._reading.subscribers.subscribe(callback)
