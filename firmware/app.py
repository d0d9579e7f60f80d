"""The application: builds the hardware, the core, the control socket and every feature, and runs them.

Start order matters: features are constructed (and subscribe to core events) before the station starts,
so nothing the core reports at start-up (e.g. a session ended by a power cut) is missed; the hardware
is driven to its safe state by the station before anything else talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any, Protocol

from firmware import __version__
from firmware.audit.config_changes import audit_config_changes
from firmware.audit.store import EventStore, parse_window
from firmware.audit.store import attach as attach_event_store
from firmware.audit.store import detach as detach_event_store
from firmware.audit.trail import CoreEventLog
from firmware.control.roles import AccessPolicy, Role
from firmware.control.server import ControlError, ControlServer
from firmware.core.connector import FaultPersists
from firmware.core.station import Station
from firmware.core.vocabulary import Fault
from firmware.display.service import DisplayService
from firmware.metering.signed import SignedMetering
from firmware.security.events import SecurityEventType, open_security_log
from firmware.service.notify import SystemdNotifier
from firmware.sessions.recorder import SessionRecorder
from firmware.sessions.store import db_path as sessions_db
from firmware.settings import Settings
from firmware.storage.statedir import StorageMonitor
from hal.clock import Clock, RealClock
from hal.contract import StationHardware
from hal.factory import build_station_hardware
from hal.fake import SimulatedStation

if TYPE_CHECKING:
    from firmware.ocpp.common.runtime import OcppRuntime
    from firmware.safety.launch import Launch
    from firmware.safety.process import SupervisorProcess

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SUPERVISOR_LOST = 70  # the safety supervisor died: exit so that systemd restarts both
EXIT_RESTART = 75  # asked to restart (OCPP Reset, config --apply); systemd Restart=always brings us back


class Feature(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Application:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 hardware: StationHardware | None = None,
                 simulation: SimulatedStation | None = None,
                 supervisor_launch: Launch | None = None) -> None:
        """`supervisor_launch`: the supervisor process `chargepi run` started early (it is used if the
        settings want a supervisor process, else ended)."""
        self.settings = settings
        self.clock: Clock = clock or RealClock()
        self.supervisor: SupervisorProcess | None = None
        if hardware is None:
            remote = None
            if clock is None and settings.station.supervisor == "process":
                # Only with the real clock: the supervisor runs in real time (an injected clock means a
                # simulated-time test or benchmark; those run the same interlock inline).
                from firmware.safety.process import SupervisorProcess

                self.supervisor = SupervisorProcess(settings, self._supervisor_lost, supervisor_launch)
                remote = self.supervisor.part
                supervisor_launch = None
            if supervisor_launch is not None:
                supervisor_launch.cancel()
            hardware, simulation = build_station_hardware(settings, self.clock, remote)
        self.hardware = hardware
        self.simulation = simulation
        self.station = Station(settings, hardware, self.clock)
        self.station.subscribe(CoreEventLog())
        self.event_store: EventStore | None = None
        self.control = ControlServer(settings.station.socket_path, AccessPolicy(settings.control))
        self.security_log = open_security_log(settings.station.state_dir, self.clock, self.station.storage)
        self.features: list[Feature] = []
        self.ocpp: OcppRuntime | None = None
        self._exit: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._register_core_commands()
        self._attach_features()
        # Last: READY=1 goes to systemd only once the hardware is safe and every feature has started.
        self.features.append(SystemdNotifier(self.clock, self.station))

    def _attach_features(self) -> None:
        """Construct every optional feature; each subscribes to the station in its constructor."""
        from firmware.smart.wiring import build_smart_features

        self.features.append(StorageMonitor(  # a full disk is a MemoryExhaustion security event
            self.station.storage, self.clock, on_short=lambda detail: self.security_log.record(
                SecurityEventType.MEMORY_EXHAUSTION, detail)))
        self.smart_charging, smart_features = build_smart_features(
            self.settings, self.clock, self.station, self.hardware, self.control, self.station.storage)
        self.features.extend(smart_features)
        recorder: SessionRecorder | None = None
        if self.settings.sessions.enabled:
            recorder = SessionRecorder(
                self.station, self.clock, sessions_db(self.settings.station.state_dir),
                self.settings.sessions.retention_days, self.settings.sessions.checkpoint_minutes * 60,
                storage=self.station.storage)
            recorder.register(self.control)
            self.features.append(recorder)
        ocpp = self.settings.ocpp
        self.signed_metering = SignedMetering.from_hardware(
            self.station, self.hardware, self.clock, ocpp.charge_point_id if ocpp is not None else "chargepi",
            recorder.store if recorder is not None else None)
        if self.signed_metering is not None:
            self.features.append(self.signed_metering)
        displays = {c.connector_id: c.display for c in self.hardware.connectors if c.display is not None}
        self.display: DisplayService | None = None
        if displays:
            self.display = DisplayService(self.station, displays, self.settings.display.language,
                                          self.settings.display.currency)
            self.features.append(self.display)
        if self.simulation is not None:
            from firmware.control.sim_commands import register_sim_commands

            register_sim_commands(self.control, self.simulation)
        if self.settings.ocpp is not None:
            from firmware.ocpp.common.runtime import AdapterContext
            from firmware.ocpp.versions import build_adapter

            self.ocpp = build_adapter(AdapterContext(
                self.settings, self.station, self.clock, self.settings.station.state_dir, self.control,
                restart=lambda hard: self.request_exit(EXIT_RESTART), smart_charging=self.smart_charging,
                storage=self.station.storage, security_log=self.security_log,
                signed_metering=self.signed_metering, display=self.display))
            self.features.append(self.ocpp)

    def _register_core_commands(self) -> None:
        async def status(args: dict[str, Any]) -> Any:
            return self.station.snapshot()

        async def fault_clear(args: dict[str, Any]) -> Any:
            try:
                fault = Fault(str(args.get("fault")))
            except ValueError:
                raise ControlError(f"unknown fault {args.get('fault')!r}; "
                                   f"known: {', '.join(f.value for f in Fault)}") from None
            connector = int(args.get("connector", 1))
            if connector not in self.station.connector_ids:
                raise ControlError(f"no connector {connector}")
            try:
                return {"cleared": self.station.clear_fault(connector, fault)}
            except FaultPersists as exc:
                raise ControlError(str(exc)) from None

        async def config_set(args: dict[str, Any]) -> Any:
            # `chargepi config set` wrote the file: the dispatcher's audit line records who and what.
            return {"recorded": True}

        async def events(args: dict[str, Any]) -> Any:  # the audit trail; idTags masked for read-only
            if self.event_store is None:
                raise ControlError("the event history is not kept (see the journal)")
            try:
                window = parse_window(args)
            except (TypeError, ValueError) as exc:
                raise ControlError(f"bad event selection: {exc}") from None
            found = await asyncio.to_thread(self.event_store.read, *window)
            return [e.as_dict() for e in found]

        self.control.register("status", status, Role.READ_ONLY)
        self.control.register("events", events, Role.READ_ONLY)
        self.control.register("fault-clear", fault_clear)
        self.control.register("config-set", config_set)

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = self._loop.create_future()
        self.event_store = attach_event_store(self.settings.station.state_dir, self.station.storage)
        audit_config_changes(self.settings.model_dump(mode="json"), self.settings.station.state_dir)
        if self.supervisor is not None:
            await self.supervisor.start(self.simulation)
            self.station.add_status_section("supervisor", self.supervisor.describe)
        await self.station.start()
        self.security_log.record(SecurityEventType.STARTUP_OF_THE_DEVICE, f"chargepi {__version__}")
        for feature in self.features:
            await feature.start()
        await self.control.start()
        log.info("chargepi started: %d connector(s), control socket %s", len(self.station.connectors),
                 self.control.path)

    async def stop(self) -> None:
        await self.control.close()
        self.station.report_ending_sessions()  # while every feature still listens
        for feature in reversed(self.features):
            try:
                await feature.stop()
            except Exception:
                log.exception("stopping %r failed", feature)
        await self.station.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        self.security_log.close()
        if self.event_store is not None:
            detach_event_store(self.event_store)
            self.event_store = None

    def _supervisor_lost(self, reason: str) -> None:
        """From the link's reader thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.request_exit, EXIT_SUPERVISOR_LOST)

    def request_exit(self, code: int = EXIT_OK) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT or an exit request; returns the process exit code."""
        await self.start()
        assert self._exit is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # asyncio raises NotImplementedError where a loop has no signal support (not on Linux) and
            # RuntimeError when the loop does not run in the main thread: then no handler is installed.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_exit, EXIT_OK)
        try:
            return await self._exit
        finally:
            await self.stop()
