"""The smaller simulated parts of a connector: proximity, RCM, socket lock, temperature, reader, LED."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hal.contract import Unsubscribe
from hal.fake.faults import OVER_TEMPERATURE_C, SimFault
from hal.fake.world import ConnectorWorld, WorldPart
from hal.pubsub import Notification, Subscribers, Watched
from hal.types import CableAmpacity, IndicatorState, ProximityReading, SelfTestResult

# Nominal Type 2 coding resistors (docs/reference/hardware.md §3).
PP_RESISTOR_OHM: dict[CableAmpacity, float] = {
    CableAmpacity.A13: 1500.0,
    CableAmpacity.A20: 680.0,
    CableAmpacity.A32: 220.0,
    CableAmpacity.A63: 100.0,
}
# A broken coding resistor: below the 60 ohm error limit (docs/reference/hardware.md §3).
PP_FAULT_OHM = 30.0



class SimulatedProximity(WorldPart):
    def __init__(self, world: ConnectorWorld) -> None:
        super().__init__(world)
        self._reading: Watched[ProximityReading] = Watched(self._measure(), "simulated proximity pilot")
        world.watch(self._check)

    def _measure(self) -> ProximityReading:
        world = self._world
        if not world.ev.plugged:
            return ProximityReading(CableAmpacity.NONE, None)
        if SimFault.PP in world.faults:
            return ProximityReading(CableAmpacity.NONE, PP_FAULT_OHM, fault=True)
        return ProximityReading(world.cable_ampacity, PP_RESISTOR_OHM.get(world.cable_ampacity))

    def _check(self) -> list[Notification]:
        return self._reading.update(self._measure())

    def read(self) -> ProximityReading:
        with self._world.lock:
            return self._measure()

    def subscribe(self, callback: Callable[[ProximityReading], None]) -> Unsubscribe:
        return self._reading.subscribers.subscribe(callback)


class SimulatedRcm(WorldPart):
    """Trips while the "rcd" fault is injected; its self test fails under "rcd-selftest" or while tripped."""

    def __init__(self, world: ConnectorWorld) -> None:
        super().__init__(world)
        self._tripped: Watched[bool] = Watched(False, "simulated RCM")
        world.watch(self._check)

    def _check(self) -> list[Notification]:
        return self._tripped.update(SimFault.RCD in self._world.faults)

    @property
    def tripped(self) -> bool:
        with self._world.lock:
            return SimFault.RCD in self._world.faults

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._tripped.subscribers.subscribe(callback)

    async def self_test(self) -> SelfTestResult:
        with self._world.lock:
            faults = set(self._world.faults)
        if SimFault.RCD in faults:
            return SelfTestResult(False, "monitor is tripped", monitor_tripped=True)
        if SimFault.RCD_SELFTEST in faults:
            return SelfTestResult(False, "no trip seen after driving the test input")
        return SelfTestResult(True, "tripped on the test input and reset")


class SimulatedLock(WorldPart):
    """Locks at once and confirms, unless the "lock" fault is injected (then it stays unlocked)."""

    async def lock(self) -> bool:
        world = self._world
        with world.lock:
            world.locked = SimFault.LOCK not in world.faults
            return world.locked

    async def unlock(self) -> bool:
        with self._world.lock:
            self._world.locked = False
        return True

    @property
    def locked(self) -> bool | None:
        return self._world.locked


class SimulatedTemperature(WorldPart):
    async def read_celsius(self) -> float:
        world = self._world
        with world.lock:
            if SimFault.OVER_TEMPERATURE in world.faults:
                return OVER_TEMPERATURE_C
            return world.temperature_c


class SimulatedTokenReader:
    def __init__(self) -> None:
        self._subscribers: Subscribers[str] = Subscribers("simulated token reader")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def present(self, token: str) -> None:
        self._subscribers.publish(token)

    def subscribe(self, callback: Callable[[str], None]) -> Unsubscribe:
        return self._subscribers.subscribe(callback)


class SimulatedIndicator:
    """Remembers what it was told to show; `history` keeps every change."""

    def __init__(self) -> None:
        self.state: IndicatorState | None = None
        self.history: list[IndicatorState] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def show(self, state: IndicatorState) -> None:
        if state != self.state:
            self.history.append(state)
        self.state = state


class SimulatedInput:
    """A station input (emergency stop, demand-response relay) the simulation switches with `set`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: Watched[bool] = Watched(False, "simulated input")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def active(self) -> bool:
        return self._active.value

    def set(self, active: bool) -> None:
        with self._lock:
            pending = self._active.update(active)
        for notification in pending:
            notification()

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._active.subscribers.subscribe(callback)
