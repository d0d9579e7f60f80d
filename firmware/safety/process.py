"""The controller's side of the safety supervisor: starts the process, watches it, beats its heartbeat,
and gives the core remote parts in place of the safety lines the supervisor owns.

With the fake HAL, the simulated world stays here (with the simulated car, the meter and `chargepi sim`);
its safety lines are served to the supervisor over a second link, so the supervisor drives the same
world the rest of the simulation sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from firmware.safety import launch as launcher
from firmware.safety.launch import Launch
from firmware.safety.link import Link, LinkClosed
from firmware.safety.remote import (
    PartServer,
    RemoteContactor,
    RemoteInput,
    RemotePart,
    RemoteParts,
    RemotePilot,
    RemoteRcm,
)
from firmware.safety.spec import spec_of
from firmware.safety.supervisor import CONNECTOR_SAFETY_PARTS
from firmware.settings import Settings
from hal.contract import HalError
from hal.fake import SimulatedStation

log = logging.getLogger(__name__)

HEARTBEATS_PER_WATCHDOG = 4  # a heartbeat every watchdog_s / 4: three may be late before the trip
SUPERVISOR_MODULE = launcher.SUPERVISOR_MODULE  # benchmarks substitute an instrumented one
START_TIMEOUT_S = 30.0


def safety_parts(settings: Settings) -> dict[str, str]:
    """Every safety part the configuration has → its driver name."""
    parts: dict[str, str] = {}
    for cs in settings.connectors:
        for part in CONNECTOR_SAFETY_PARTS:
            config = getattr(cs.hal, part)
            if config is not None:
                parts[f"{cs.id}.{part}"] = str(config.driver)
    estop = settings.station.hal.emergency_stop
    if estop is not None:
        parts["emergency_stop"] = str(estop.driver)
    return parts


class SupervisorProcess:
    """Owns the child process and the remote parts the core uses instead of the real safety lines."""

    def __init__(self, settings: Settings, on_lost: Callable[[str], None],
                 launch: Launch | None = None) -> None:
        """`launch`: a supervisor process already started (firmware.safety.launch.prelaunch), else one is
        started by `start`."""
        self._settings = settings
        self._on_lost = on_lost
        self.drivers = safety_parts(settings)
        self._launch = launch or Launch()
        self._link = self._launch.link
        self.remote = RemoteParts(self._link, on_closed=self._closed, on_message=self._message,
                                  before_command=self._before_command)
        kinds: dict[str, type[RemotePart]] = {"pilot": RemotePilot, "contactor": RemoteContactor,
                                              "phase_switch": RemoteContactor, "rcm": RemoteRcm}
        self.parts: dict[str, RemotePart] = {
            name: kinds.get(name.rsplit(".", 1)[-1], RemoteInput)(self.remote, name) for name in self.drivers}
        self.pid: int | None = None
        self.failure: str | None = None
        self.watchdog_trips = 0
        self._ready = threading.Event()
        self._stopping = False
        self._world: Link | None = None
        self._world_server: PartServer | None = None
        self._beating = threading.Event()  # set while a contactor is (or is being) closed
        self._halt = threading.Event()
        self._close_requested_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_seen = time.monotonic()
        self._loop_stalled = False

    def part(self, connector_id: int | None, part: str) -> RemotePart | None:
        return self.parts.get(part if connector_id is None else f"{connector_id}.{part}")

    @property
    def fake_parts(self) -> list[str]:
        return sorted(name for name, driver in self.drivers.items() if driver == "fake")

    def _message(self, message: dict[str, Any]) -> None:
        if message.get("ev") == "ready":
            self.pid = int(message["pid"])
            self._ready.set()
        elif message.get("ev") == "failed":
            self._stopping = True
            self.failure = str(message["error"])
            self._ready.set()
        elif message.get("ev") == "watchdog":
            self.watchdog_trips = int(message["trips"])
            log.error("the safety supervisor opened the contactors: no heartbeat from this process for "
                      "%.1f s (trip %d)", self._settings.station.supervisor_watchdog_s, self.watchdog_trips)

    def describe(self) -> dict[str, Any]:
        """The `supervisor` section of `chargepi status`."""
        return {"mode": "process", "pid": self.pid,
                "watchdog_s": self._settings.station.supervisor_watchdog_s,
                "watchdog_trips": self.watchdog_trips, "messages_dropped": self._link.dropped,
                "changes_lost": self.remote.lost}

    def _closed(self, reason: str) -> None:
        self._ready.set()
        if not self._stopping:
            log.critical("safety supervisor lost (%s): the controller exits so the service restarts safely",
                         reason)
            self._on_lost(reason)

    async def start(self, simulation: SimulatedStation | None) -> None:
        loop = asyncio.get_running_loop()
        if self._launch.process is None:
            self._launch.spawn(SUPERVISOR_MODULE)
        world_link = self._launch.world
        if self.fake_parts:
            assert simulation is not None, "fake safety parts need the simulation"
            served = {name: self._simulated(simulation, name) for name in self.fake_parts}
            self._world_server = PartServer(served, world_link, loop)
            self._world = world_link
            self._world_server.subscribe()
            threading.Thread(target=self._serve_world, name="supervisor-world", daemon=True).start()
        else:
            world_link.close()
        self._launch.send_spec(spec_of(self._settings, self.fake_parts))
        await asyncio.to_thread(self._start_remote)
        self._loop = loop
        threading.Thread(target=self._beat, name="supervisor-heartbeat", daemon=True).start()
        log.info("safety supervisor running (pid %s)", self.pid)

    def _start_remote(self) -> None:
        self.remote.start_reading()
        started = self._ready.wait(START_TIMEOUT_S)
        if self.failure is not None:
            raise HalError(self.failure)
        if not started or self.pid is None:
            raise HalError("the safety supervisor did not start (see its log lines above)")
        self.remote.resync()

    @staticmethod
    def _simulated(simulation: SimulatedStation, name: str) -> Any:
        if name == "emergency_stop":
            return simulation.emergency_stop
        cid, part = name.split(".")
        return getattr(simulation.connector(int(cid)), part)

    def _serve_world(self) -> None:
        assert self._world is not None and self._world_server is not None
        link = self._world
        with contextlib.suppress(LinkClosed):
            while True:
                message = link.recv()
                if message is None or "op" not in message:
                    continue
                if message["op"] == "self_test":  # seconds long: the supervisor's opens must not wait
                    threading.Thread(target=self._world_server.handle, args=(message,), daemon=True).start()
                else:
                    self._world_server.handle(message)

    # --- the heartbeat --------------------------------------------------------------------------
    # From a thread of its own, not the event loop: the loop of a controller flooded over OCPP can be
    # late by more than the watchdog allows without being hung; a thread is scheduled within a few GIL
    # switch intervals. A stuck loop is caught all the same: the thread beats only while the loop has
    # run within supervisor_loop_watchdog_s. Only while a contactor is closed (docs/safety-supervisor.md).
    def _before_command(self, part: str, op: str) -> None:
        if op == "close" and part.endswith(".contactor"):
            self._close_requested_at = self._loop_seen = time.monotonic()  # asked by a running loop
            self._beating.set()  # before the request leaves: the supervisor arms as it closes

    def _closed_anywhere(self) -> bool:
        return any(isinstance(p, RemoteContactor) and p.commanded_closed for p in self.parts.values())

    def _seen(self) -> None:
        self._loop_seen = time.monotonic()

    def _beat(self) -> None:
        station = self._settings.station
        interval = station.supervisor_watchdog_s / HEARTBEATS_PER_WATCHDOG
        while not self._halt.is_set():
            self._beating.wait()
            if self._halt.is_set():
                return
            now = time.monotonic()
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # closed at shutdown
                    loop.call_soon_threadsafe(self._seen)
            if now - self._loop_seen <= station.supervisor_loop_watchdog_s:
                self._loop_stalled = False
                with contextlib.suppress(LinkClosed):
                    self._link.send({"op": "hb"})
            elif not self._loop_stalled:
                self._loop_stalled = True
                log.critical("the event loop has not run for %.1f s: heartbeat withheld, the safety "
                             "supervisor opens the contactors", now - self._loop_seen)
            if not self._closed_anywhere() and now - self._close_requested_at > station.supervisor_watchdog_s:
                self._beating.clear()  # every contactor open, and no close on its way
                continue
            self._halt.wait(interval)

    async def stop(self) -> None:
        """Called after the core has driven every part safe: end the supervisor (it opens on its way)."""
        self._stopping = True
        self._halt.set()
        self._beating.set()
        self.remote.stop()
        process = self._launch.process
        if process is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 10)
            except TimeoutError:
                process.kill()
        if self._world is not None and self._world_server is not None:
            self._world_server.unsubscribe()
            self._world.close()
        self._link.close()
