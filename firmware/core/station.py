"""The station: owns every connector controller, the event hub and station-wide inputs.

It implements `firmware.core.api.StationApi`, the only door through which adapters act on the charger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from firmware import __version__
from firmware.core.api import (
    AvailabilityResult,
    ConnectorStatusProvider,
    Listener,
    StatusProvider,
    UnlockResult,
)
from firmware.core.authorization import Authorizer, FreeCharging, Reservation
from firmware.core.connector import PLUGGED, ConnectorController
from firmware.core.events import CoreEvent, SessionStopped, TokenDecided, TokenPresented
from firmware.core.journal import CoreJournal
from firmware.core.published import status_label
from firmware.core.vocabulary import ConnectorState, Fault, StopReason
from firmware.settings import Settings
from firmware.storage.statedir import StateDir
from hal.clock import Clock
from hal.contract import StationHardware
from hal.pubsub import Subscribers

log = logging.getLogger(__name__)

STATUS_SCHEMA_VERSION = 1


class Station:
    def __init__(self, settings: Settings, hardware: StationHardware, clock: Clock,
                 journal: CoreJournal | None = None) -> None:
        self.settings = settings
        self.hardware = hardware
        self.clock = clock
        self._events: Subscribers[CoreEvent] = Subscribers("core events")
        self._status_sections: dict[str, StatusProvider] = {}
        self._connector_fields: dict[str, ConnectorStatusProvider] = {}
        station = settings.station
        self.storage = StateDir(station.state_dir, reserve_bytes=int(station.storage_reserve_mb * 2**20))
        self._journal = journal or CoreJournal(self.storage)
        by_id = {c.connector_id: c for c in hardware.connectors}
        self.connectors: dict[int, ConnectorController] = {
            cs.id: ConnectorController(cs, settings.station, by_id[cs.id], clock, self._publish,
                                       self._journal, emergency_stop=hardware.emergency_stop)
            for cs in settings.connectors
        }
        self._authorizer: Authorizer = FreeCharging()  # standalone default; auto_start is set per controller
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[bool]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = False

    # --- events -------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._events.subscribe(listener)

    def _publish(self, event: CoreEvent) -> None:
        """Give `event` to every listener (hal.pubsub's rule). An event raised while listeners handle
        another one (e.g. a status change caused by a limit a listener set on SessionStarted) waits until
        that one has reached every listener: all of them see events in the order they happened."""
        self._events.publish(event)

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for part in self.hardware.parts():
            await part.start()
        for controller in self.connectors.values():
            await controller.start()
        self._recover_interrupted_sessions()
        reader = self.hardware.token_reader
        if reader is not None:
            self._unsubscribe.append(reader.subscribe(lambda tag: self._token_from_reader(tag, None)))
        for controller in self.connectors.values():
            connector_reader = controller.hw.token_reader
            if connector_reader is not None:
                cid = controller.id
                self._unsubscribe.append(connector_reader.subscribe(self._reader_callback(cid)))
        self.started = True

    def report_ending_sessions(self) -> None:
        """Publish at once the stops still waiting for their settled meter reading (orderly shutdown)."""
        for controller in self.connectors.values():
            controller.report_ending()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        for controller in self.connectors.values():
            await controller.stop()
        for part in reversed(self.hardware.parts()):
            try:
                await part.stop()
            except Exception:
                log.exception("closing %r failed", part)
        self._journal.close()
        self.started = False

    def _recover_interrupted_sessions(self) -> None:
        policy = self.settings.station.power_loss_policy
        for saved in self._journal.interrupted_sessions():
            controller = self.connectors.get(saved.connector_id)
            if controller is not None and policy == "resume" and controller.plugged:
                log.info("connector %s: resuming session %s after power loss", saved.connector_id,
                         saved.session_id)
                controller.resume_session(saved)
                continue
            log.info("connector %s: session %s ended by power loss at %.0f Wh", saved.connector_id,
                     saved.session_id, saved.last_meter_wh)
            self._journal.session_ended(saved.connector_id)
            self._publish(SessionStopped(saved.connector_id, saved.session_id, StopReason.POWER_LOSS,
                                         saved.last_meter_wh, saved.last_meter_at, None, saved.id_tag,
                                         saved.started_at, saved.meter_start_wh, saved.max_power_w))

    # --- authorization and sessions -----------------------------------------------------------------
    @property
    def connector_ids(self) -> list[int]:
        return sorted(self.connectors)

    def connector(self, connector_id: int) -> ConnectorController:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"no connector {connector_id} (have {self.connector_ids})") from None

    def set_authorizer(self, authorizer: Authorizer, *, auto_start: bool) -> None:
        self._authorizer = authorizer
        for controller in self.connectors.values():
            controller.auto_start = auto_start

    def _reader_callback(self, connector_id: int) -> Callable[[str], None]:
        return lambda tag: self._token_from_reader(tag, connector_id)

    def _token_from_reader(self, id_tag: str, connector_id: int | None) -> None:
        """Reader callbacks may come from a driver thread: hop onto the loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._start_token_task, id_tag, connector_id)

    def _start_token_task(self, id_tag: str, connector_id: int | None) -> None:
        task = asyncio.ensure_future(self.present_token(id_tag, connector_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pick_connector(self, id_tag: str, connector_id: int | None) -> ConnectorController | None:
        if connector_id is not None:
            return self.connector(connector_id)
        controllers = list(self.connectors.values())
        for c in controllers:  # a token stops its own session wherever it is
            if c.session is not None and c.session.id_tag == id_tag:
                return c
        for c in controllers:  # else the plugged EV waiting for a token
            if c.session is None and c.cp in PLUGGED and c.operative and not c.has_blocking_fault():
                return c
        for c in controllers:  # else a session that a card of the same group may stop
            if c.session is not None and c.session.parent_id_tag is not None:
                return c
        for c in controllers:
            if c.state in (ConnectorState.AVAILABLE, ConnectorState.RESERVED):
                return c
        for c in controllers:  # else a running session: the token may be a master pass
            if c.session is not None:
                return c
        return None

    async def present_token(self, id_tag: str, connector_id: int | None = None) -> bool:
        self._publish(TokenPresented(connector_id, id_tag, self.clock.now()))
        accepted, outcome, where = await self._decide_token(id_tag, connector_id)
        self._publish(TokenDecided(where, id_tag, accepted, outcome, self.clock.now()))
        return accepted

    async def _decide_token(self, id_tag: str, connector_id: int | None) -> tuple[bool, str, int | None]:
        """(acted on it, what happened and why, the connector) for a presented token."""
        controller = self._pick_connector(id_tag, connector_id)
        if controller is None:
            log.info("token %s: no connector can take it", id_tag)
            return False, "no connector can take it (all busy, faulted or unavailable)", connector_id
        where = controller.id
        session = controller.session
        if session is not None:
            if session.id_tag == id_tag:
                return controller.stop_session(StopReason.LOCAL, id_tag), "stops its own session", where
            result = await self._authorizer.authorize(id_tag, controller.id)
            if result.master_pass:
                return self._master_pass(where)
            if result.accepted and session.parent_id_tag is not None \
                    and result.parent_id_tag == session.parent_id_tag:
                return controller.stop_session(StopReason.LOCAL, id_tag), \
                    "stops the session of a card of its group", where
            return False, "another card's session is running on this connector", where
        if controller.pending_auth is not None and controller.pending_auth.id_tag == id_tag:
            return controller.cancel_pending(), "cancels its own waiting authorization", where
        result = await self._authorizer.authorize(id_tag, controller.id)
        if result.master_pass:
            return self._master_pass(where)
        if not result.accepted:
            return False, f"{result.status}" + (f" ({result.source})" if result.source else ""), where
        return self._accept(controller, id_tag, result.parent_id_tag, result.source)

    def _master_pass(self, where: int) -> tuple[bool, str, int]:
        """A master pass stops every session (there is no screen to choose one) and starts none."""
        stopped = [c.id for c in self.connectors.values()
                   if c.session is not None and c.stop_session(StopReason.MASTER_PASS)]
        if not stopped:
            return False, "master pass: no session to stop (it starts none)", where
        return True, f"master pass: stops the sessions on connector(s) {stopped}", where

    def _accept(self, controller: ConnectorController, id_tag: str, parent: str | None,
                source: str = "") -> tuple[bool, str, int]:
        where = controller.id
        if controller.session is not None:
            return False, f"connector {where} already has a session", where
        if controller.has_blocking_fault() or not controller.operative:
            return False, f"connector {where} is {status_label(controller.state)}", where
        reservation = controller.reservation
        if reservation is not None and not reservation.admits(id_tag, parent) \
                and not self._move_reservation(controller, reservation):
            return False, f"connector {where} is reserved for another card", where
        controller.authorize(id_tag, parent)
        return True, "authorized" + (f" ({source})" if source else ""), where

    def _move_reservation(self, controller: ConnectorController, reservation: Reservation) -> bool:
        """A reservation for any connector leaves `controller` for another free one, if there is one."""
        if not reservation.anywhere:
            return False
        for other in self.connectors.values():
            if other is not controller and other.state == ConnectorState.AVAILABLE \
                    and other.reserve(reservation) == "Accepted":  # held there before it leaves here
                controller.cancel_reservation(reservation.reservation_id)
                log.info("reservation %d moved from connector %d to %d", reservation.reservation_id,
                         controller.id, other.id)
                return True
        return False

    async def remote_start(self, id_tag: str, connector_id: int | None = None,
                           authorize: bool = False) -> bool:
        controller = self._pick_connector(id_tag, connector_id)
        if controller is None or controller.session is not None:
            return False
        parent = None
        if authorize:
            result = await self._authorizer.authorize(id_tag, controller.id)
            if not result.accepted:
                return False
            parent = result.parent_id_tag
        return self._accept(controller, id_tag, parent)[0]

    def stop_session(self, connector_id: int, reason: StopReason, id_tag: str | None = None) -> bool:
        controller = self.connector(connector_id)
        return controller.stop_session(reason, id_tag) or controller.cancel_pending()

    def session_of(self, connector_id: int) -> dict[str, Any] | None:
        session = self.connector(connector_id).session
        return session.describe() if session else None

    def state_of(self, connector_id: int) -> ConnectorState:
        return self.connector(connector_id).state

    async def latest_meter_wh(self, connector_id: int) -> float:
        reading = self.connector(connector_id).last_reading
        return reading.energy_import_wh if reading else 0.0

    # --- commands -----------------------------------------------------------------------------------
    def set_available(self, connector_id: int, operative: bool) -> AvailabilityResult:
        targets = self.connector_ids if connector_id == 0 else [self.connector(connector_id).id]
        results = {self.connectors[c].set_operative(operative) for c in targets}
        return "Scheduled" if "Scheduled" in results else "Accepted"

    def hold_new_sessions(self, reason: str, held: bool) -> None:
        for controller in self.connectors.values():
            controller.hold_new_sessions(reason, held)

    def set_connection_timeout(self, seconds: float) -> None:
        for controller in self.connectors.values():
            controller.connection_timeout_s = seconds

    async def unlock(self, connector_id: int) -> UnlockResult:
        result = await self.connector(connector_id).unlock()
        if result is None:
            return "NotSupported"
        return "Unlocked" if result else "UnlockFailed"

    def reserve(self, connector_id: int, reservation: Reservation) -> Literal[
            "Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]:
        if connector_id == 0:
            free = [c for c in self.connectors.values() if c.state == ConnectorState.AVAILABLE]
            if not free:
                return "Occupied"
            return free[0].reserve(replace(reservation, anywhere=True))  # type: ignore[return-value]
        return self.connector(connector_id).reserve(reservation)  # type: ignore[return-value]

    def cancel_reservation(self, reservation_id: int) -> bool:
        return any(c.cancel_reservation(reservation_id) for c in self.connectors.values())

    def set_limit(self, source: str, amps: float | None, connector_id: int | None = None) -> None:
        targets = self.connector_ids if connector_id is None else [connector_id]
        for cid in targets:
            self.connector(cid).set_limit(source, amps)

    def request_phases(self, connector_id: int, phases: int) -> None:
        """Phase count for the next closing of the main contactor (phase switching)."""
        self.connector(connector_id).interlock.request_phases(phases)

    def phases_in_use(self, connector_id: int) -> int:
        return self.connector(connector_id).interlock.phases_in_use

    def clear_fault(self, connector_id: int, fault: Fault) -> bool:
        return self.connector(connector_id).clear_fault(fault)

    # --- status -------------------------------------------------------------------------------------
    def add_status_section(self, name: str, provider: StatusProvider) -> None:
        self._status_sections[name] = provider

    def add_connector_status_field(self, name: str, provider: ConnectorStatusProvider) -> None:
        self._connector_fields[name] = provider

    def snapshot(self) -> dict[str, Any]:
        connectors = []
        for cid in self.connector_ids:
            entry = self.connectors[cid].describe()
            for field_name, field_provider in self._connector_fields.items():
                entry[field_name] = field_provider(cid)
            connectors.append(entry)
        station = self.settings.station
        doc: dict[str, Any] = {
            "schema_version": STATUS_SCHEMA_VERSION,
            "firmware_version": __version__,
            "time": self.clock.now().isoformat().replace("+00:00", "Z"),
            "station": {
                "vendor": station.vendor, "model": station.model,
                "serial_number": station.serial_number,
                "emergency_stop": bool(self.hardware.emergency_stop and self.hardware.emergency_stop.active),
            },
            "connectors": connectors,
            "storage": self.storage.status(),
        }
        for name, provider in self._status_sections.items():
            doc[name] = provider()
        return doc
