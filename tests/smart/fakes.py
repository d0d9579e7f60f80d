"""A minimal StationApi stand-in that records what smart charging asks of the arbiter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from firmware.core.events import CoreEvent, SessionStarted, SessionStopped
from firmware.core.vocabulary import StopReason
from hal.contract import MeterError
from hal.types import MeterReading


class RecordingStation:
    def __init__(self, connector_ids: list[int]) -> None:
        self._ids = connector_ids
        self.limits: dict[tuple[str, int | None], float | None] = {}
        self.calls: list[tuple[str, float | None, int | None]] = []
        self.sessions: dict[int, dict[str, Any]] = {}
        self.listeners: list[Callable[[CoreEvent], None]] = []
        self.sections: dict[str, Callable[[], Any]] = {}

    @property
    def connector_ids(self) -> list[int]:
        return self._ids

    def subscribe(self, listener: Callable[[CoreEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def set_limit(self, source: str, amps: float | None, connector_id: int | None = None) -> None:
        self.limits[(source, connector_id)] = amps
        self.calls.append((source, amps, connector_id))

    def session_of(self, connector_id: int) -> dict[str, Any] | None:
        return self.sessions.get(connector_id)

    def add_status_section(self, name: str, provider: Callable[[], Any]) -> None:
        self.sections[name] = provider

    def publish(self, event: CoreEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    def start_session(self, connector_id: int, when: datetime) -> None:
        self.sessions[connector_id] = {"id": "s1", "started_at": when}
        self.publish(SessionStarted(connector_id, "s1", "TAG", 0.0, when))

    def stop_session(self, connector_id: int, when: datetime) -> None:
        self.sessions.pop(connector_id, None)
        self.publish(SessionStopped(connector_id, "s1", StopReason.LOCAL, 100.0, when, None))

    def limit(self, source: str, connector_id: int | None) -> float | None:
        return self.limits.get((source, connector_id))


class FakeInput:
    """A DigitalInput whose level the test sets; callbacks fire on the calling thread (like a driver's)."""

    def __init__(self, active: bool = False) -> None:
        self.active = active
        self._callbacks: list[Callable[[bool], None]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def subscribe(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def set(self, active: bool) -> None:
        self.active = active
        for callback in list(self._callbacks):
            callback(active)


class FakeGridMeter:
    """An EnergyMeter for the whole site whose per-phase current the test sets (None: it fails)."""

    def __init__(self, current_a: tuple[float, ...] | None = (0.0, 0.0, 0.0)) -> None:
        self.current_a = current_a

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def read(self) -> MeterReading:
        if self.current_a is None:
            raise MeterError("grid meter not answering")
        return MeterReading(energy_import_wh=0.0, current_a=self.current_a)
