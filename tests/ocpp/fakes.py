"""A small in-memory StationApi for protocol-level tests: sessions, statuses and meter readings on demand."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from firmware.core.api import (
    AvailabilityResult,
    ConnectorStatusProvider,
    Listener,
    StatusProvider,
    UnlockResult,
)
from firmware.core.authorization import Authorizer, Reservation
from firmware.core.events import (
    CoreEvent,
    MeterSampled,
    SessionStarted,
    SessionStopped,
    StatusChanged,
)
from firmware.core.vocabulary import ConnectorState, Fault, StopReason
from hal.clock import Clock
from hal.types import MeterReading


class FakeStation:
    def __init__(self, clock: Clock, connectors: int = 2) -> None:
        self.clock = clock
        self._ids = list(range(1, connectors + 1))
        self._listeners: list[Listener] = []
        self.authorizer: Authorizer | None = None
        self.auto_start = False
        self.sessions: dict[int, dict[str, Any]] = {}
        self.statuses = {c: ConnectorState.AVAILABLE for c in self._ids}
        self.energy = {c: 1000.0 for c in self._ids}
        self.temperatures: dict[int, float] = {}
        self.available: dict[int, bool] = {}
        self.holds: set[str] = set()  # hold_new_sessions reasons in force
        self.reservations: dict[int, tuple[int, Reservation]] = {}
        self.limits: list[tuple[str, float | None, int | None]] = []
        self.unlocked: list[int] = []
        self.has_lock = True
        self.connection_timeout_s = 60.0
        self.remote_starts: list[tuple[str, int | None, bool]] = []
        self.sections: dict[str, StatusProvider] = {}
        self.connector_fields: dict[str, ConnectorStatusProvider] = {}

    # -- StationApi --
    @property
    def connector_ids(self) -> list[int]:
        return list(self._ids)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def set_authorizer(self, authorizer: Authorizer, *, auto_start: bool) -> None:
        self.authorizer = authorizer
        self.auto_start = auto_start

    async def present_token(self, id_tag: str, connector_id: int | None = None) -> bool:
        assert self.authorizer is not None
        connector = connector_id or self._ids[0]
        result = await self.authorizer.authorize(id_tag, connector)
        session = self.sessions.get(connector)
        if session is not None:
            same = id_tag == session["id_tag"] or (
                result.parent_id_tag is not None and result.parent_id_tag == session["parent_id_tag"]
            )
            if not same:
                return False
            return self.stop_session(connector, StopReason.LOCAL, id_tag)
        if not result.accepted:
            return False
        self.start(connector, id_tag, result.parent_id_tag)
        return True

    async def remote_start(
        self, id_tag: str, connector_id: int | None = None, authorize: bool = False
    ) -> bool:
        self.remote_starts.append((id_tag, connector_id, authorize))
        connector = connector_id or next(c for c in self._ids if c not in self.sessions)
        parent = None
        if authorize:
            assert self.authorizer is not None
            result = await self.authorizer.authorize(id_tag, connector)
            if not result.accepted:
                return False
            parent = result.parent_id_tag
        self.start(connector, id_tag, parent)
        return True

    def stop_session(self, connector_id: int, reason: StopReason, id_tag: str | None = None) -> bool:
        session = self.sessions.pop(connector_id, None)
        if session is None:
            return False
        now = self.clock.now()
        self.emit(
            SessionStopped(
                connector_id, session["id"], reason, self.energy[connector_id], now, id_tag, session["id_tag"]
            )
        )
        self.set_status(connector_id, ConnectorState.FINISHING)
        return True

    def session_of(self, connector_id: int) -> dict[str, Any] | None:
        return self.sessions.get(connector_id)

    def state_of(self, connector_id: int) -> ConnectorState:
        return self.statuses.get(connector_id, ConnectorState.AVAILABLE)

    def hold_new_sessions(self, reason: str, held: bool) -> None:
        self.holds = ({*self.holds, reason} if held else self.holds - {reason})

    def set_available(self, connector_id: int, operative: bool) -> AvailabilityResult:
        targets = self._ids if connector_id == 0 else [connector_id]
        if any(c in self.sessions for c in targets):
            self.available[connector_id] = operative
            return "Scheduled"
        self.available[connector_id] = operative
        for c in targets:
            self.set_status(c, ConnectorState.AVAILABLE if operative else ConnectorState.UNAVAILABLE)
        return "Accepted"

    def set_connection_timeout(self, seconds: float) -> None:
        self.connection_timeout_s = seconds

    async def unlock(self, connector_id: int) -> UnlockResult:
        if not self.has_lock:
            return "NotSupported"
        if connector_id in self.sessions:
            self.stop_session(connector_id, StopReason.UNLOCK_COMMAND)
        self.unlocked.append(connector_id)
        return "Unlocked"

    def reserve(
        self, connector_id: int, reservation: Reservation
    ) -> Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]:
        if connector_id in self.sessions:
            return "Occupied"
        self.reservations[reservation.reservation_id] = (connector_id, reservation)
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> bool:
        return self.reservations.pop(reservation_id, None) is not None

    def set_limit(self, source: str, amps: float | None, connector_id: int | None = None) -> None:
        self.limits.append((source, amps, connector_id))

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": 1,
            "connectors": [
                {"id": c, "status": str(s), "temperature_c": self.temperatures.get(c)}
                for c, s in self.statuses.items()
            ],
            "sections": {name: provider() for name, provider in self.sections.items()},
        }

    def add_status_section(self, name: str, provider: StatusProvider) -> None:
        self.sections[name] = provider

    def add_connector_status_field(self, name: str, provider: ConnectorStatusProvider) -> None:
        self.connector_fields[name] = provider

    async def latest_meter_wh(self, connector_id: int) -> float:
        return self.energy[connector_id]

    # -- test drivers --
    def emit(self, event: CoreEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def set_status(
        self,
        connector_id: int,
        status: ConnectorState,
        fault: Fault | None = None,
        info: str | None = None,
    ) -> None:
        self.statuses[connector_id] = status
        self.emit(StatusChanged(connector_id, status, fault, info, self.clock.now()))

    def start(
        self,
        connector_id: int,
        id_tag: str | None,
        parent: str | None = None,
        session_id: str | None = None,
        reservation_id: int | None = None,
    ) -> str:
        sid = session_id or uuid.uuid4().hex
        now = self.clock.now()
        self.sessions[connector_id] = {
            "id": sid,
            "id_tag": id_tag,
            "parent_id_tag": parent,
            "started_at": now.isoformat(),
            "meter_start_wh": self.energy[connector_id],
            "energy_wh": 0.0,
        }
        self.emit(SessionStarted(connector_id, sid, id_tag, self.energy[connector_id], now, reservation_id))
        self.set_status(connector_id, ConnectorState.CHARGING)
        return sid

    def meter(self, connector_id: int, add_wh: float = 0.0, current: float = 16.0) -> None:
        self.energy[connector_id] += add_wh
        reading = MeterReading(
            self.energy[connector_id],
            (230.0, 231.0, 229.5),
            (current, current, current),
            (current * 230.0,) * 3,
            50.0,
        )
        session = self.sessions.get(connector_id)
        self.emit(
            MeterSampled(connector_id, reading, self.clock.now(), None if session is None else session["id"])
        )

    def power_loss_report(
        self, connector_id: int, session_id: str, id_tag: str | None, when: datetime
    ) -> None:
        """What the core does at start for a session cut by a power loss."""
        self.emit(
            SessionStopped(
                connector_id, session_id, StopReason.POWER_LOSS, self.energy[connector_id], when, None, id_tag
            )
        )
