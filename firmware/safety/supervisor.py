"""The safety supervisor: a process of its own that owns the pilot, contactor, RCM and emergency-stop lines.

It runs the same SafetyInterlock the controller runs, on the real parts, with its own interpreter (so its
own GIL): whatever the controller process is doing, a C→B/A, F, an RCM trip, an emergency stop or a
feedback fault opens the contactor here. The controller drives these parts only through guarded
versions served over the link (firmware.safety.remote): "close" is a *request* that the interlock here
grants or refuses, "open" and the PWM duty are executed. The controller must send a heartbeat; without
one for `watchdog_s` the contactor opens (the controller is hung), and when the link ends (the
controller died) the contactor opens, the pilot goes to F and the supervisor exits.

    python -m firmware.safety.supervisor --fd N [--world-fd M]   (started by firmware.safety.launch)

The part configs arrive as JSON on stdin (firmware.safety.spec). With the fake HAL the safety lines of
the simulated world (which lives in the controller process) are reached over the second link,
`--world-fd`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from firmware.core.interlock import FEEDBACK_TIMEOUT_S, InterlockNotice, SafetyInterlock
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
from hal.contract import ConnectorHardware, Contactor, ControlPilot, EnergyMeter, ResidualCurrentMonitor
from hal.types import PilotOutput, PilotOutputMode, SelfTestResult

if TYPE_CHECKING:
    from firmware.safety.spec import SupervisorSpec

log = logging.getLogger("chargepi.supervisor")

CONNECTOR_SAFETY_PARTS = ("pilot", "contactor", "phase_switch", "rcm")
# Called with (parts, spec) once every part is built, before any starts: benchmarks instrument them.
PREPARE_PARTS: Callable[[dict[str, Any], Any], None] | None = None
STATION_SAFETY_PARTS = ("emergency_stop",)
PRELOAD = ("firmware.safety.spec", "firmware.logging_setup", "hal.factory", "hal.clock")


def part_names(connector_ids: list[int], with_part: Callable[[int, str], bool],
               with_estop: bool) -> list[str]:
    names = [f"{cid}.{part}" for cid in connector_ids for part in CONNECTOR_SAFETY_PARTS
             if with_part(cid, part)]
    return names + (["emergency_stop"] if with_estop else [])


class ReportingContactor:
    """The real contactor, telling the server after every command (so that an open the interlock decided
    here reaches the controller even when the board has no feedback contact)."""

    def __init__(self, part: Contactor, changed: Callable[[], None]) -> None:
        self._part = part
        self._changed = changed

    def close(self) -> None:
        self._part.close()
        self._changed()

    def open(self) -> None:
        self._part.open()
        self._changed()

    @property
    def commanded_closed(self) -> bool:
        return self._part.commanded_closed

    @property
    def feedback_closed(self) -> bool | None:
        return self._part.feedback_closed

    @property
    def feedback_settled(self) -> bool:
        return bool(getattr(self._part, "feedback_settled", True))

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        return self._part.subscribe_feedback(callback)

    async def start(self) -> None:
        await self._part.start()

    async def stop(self) -> None:
        await self._part.stop()


class GuardedContactor(ReportingContactor):
    """What the controller gets: close asks the interlock, open is executed."""

    def __init__(self, part: Contactor, interlock: SafetyInterlock, changed: Callable[[], None]) -> None:
        super().__init__(part, changed)
        self._interlock = interlock

    def close(self) -> None:
        self._interlock.request_close()

    def open(self) -> None:
        self._interlock.request_open("controller")


class GuardedPilot:
    """What the controller gets: the output goes through the interlock (it tracks the mode)."""

    def __init__(self, part: ControlPilot, interlock: SafetyInterlock) -> None:
        self._part = part
        self._interlock = interlock

    def set_output(self, output: PilotOutput) -> None:
        self._interlock.set_pilot(output)

    @property
    def output(self) -> PilotOutput:
        return self._interlock.pilot_output

    @property
    def duty_resolution_percent(self) -> float:
        return self._part.duty_resolution_percent

    def read(self) -> Any:
        return self._part.read()

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        return self._part.subscribe(callback)


class GuardedRcm:
    """What the controller gets: the self test's result also tells the interlock here."""

    def __init__(self, part: ResidualCurrentMonitor, interlock: SafetyInterlock) -> None:
        self._part = part
        self._interlock = interlock

    @property
    def tripped(self) -> bool:
        return self._part.tripped

    def subscribe(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        return self._part.subscribe(callback)

    async def self_test(self) -> SelfTestResult:
        self._interlock.set_rcm_ready(False)
        result = await self._part.self_test()
        self._interlock.set_rcm_ready(result.passed)
        return result


class Supervisor:
    """The interlocks over the real parts, the server for the controller, and the watchdog."""

    def __init__(self, link: Link, parts: dict[str, Any], loop: asyncio.AbstractEventLoop, *,
                 ventilation: dict[int, bool], watchdog_s: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._link = link
        self._parts = parts
        self._watchdog_s = watchdog_s
        self._now = now
        self.interlocks: dict[int, SafetyInterlock] = {}
        self._contactors: dict[int, Contactor] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        served: dict[str, Any] = {}
        self.server = PartServer(served, link, loop)
        estop = parts.get("emergency_stop")
        for cid in sorted({int(name.split(".")[0]) for name in parts if "." in name}):
            raw_contactor = parts[f"{cid}.contactor"]
            self._contactors[cid] = raw_contactor
            name = f"{cid}.contactor"
            hardware = ConnectorHardware(
                connector_id=cid, pilot=parts[f"{cid}.pilot"],
                contactor=ReportingContactor(raw_contactor, self._pusher(name)),
                meter=cast(EnergyMeter, None),  # not the supervisor's: the interlock never reads it
                rcm=parts.get(f"{cid}.rcm"))
            interlock = SafetyInterlock(hardware, ventilation=ventilation.get(cid, False),
                                        notify=self._noticer(cid), emergency_stop=estop, rcd_latched=False)
            self.interlocks[cid] = interlock
            served[f"{cid}.pilot"] = GuardedPilot(parts[f"{cid}.pilot"], interlock)
            served[name] = GuardedContactor(raw_contactor, interlock, self._pusher(name))
            if f"{cid}.phase_switch" in parts:
                served[f"{cid}.phase_switch"] = parts[f"{cid}.phase_switch"]
            if f"{cid}.rcm" in parts:
                served[f"{cid}.rcm"] = GuardedRcm(parts[f"{cid}.rcm"], interlock)
        if estop is not None:
            served["emergency_stop"] = estop
        self.watchdog_trips = 0

    def _pusher(self, name: str) -> Callable[[], None]:
        return lambda: self.server.push(name)

    def _noticer(self, cid: int) -> Callable[[InterlockNotice], None]:
        def notice(n: InterlockNotice) -> None:
            if n.opened_reason is not None:
                log.info("connector %s: contactor opened (%s)", cid, n.opened_reason)
        return notice

    def attach(self) -> None:
        for cid, interlock in self.interlocks.items():
            interlock.attach()  # the safe state first: open, pilot +12 V
            self._unsubscribe.append(self._contactors[cid].subscribe_feedback(self._feedback_watch(cid)))
        self.server.subscribe()

    def _feedback_watch(self, cid: int) -> Callable[[bool], None]:
        """Commanded closed but the mirror contact open for FEEDBACK_TIMEOUT_S (did not pull in, dropped
        out): open. The controller, told by the same feedback, raises and reports the fault."""
        def changed(closed: bool) -> None:
            if closed or not self._contactors[cid].commanded_closed:
                return
            timer = threading.Timer(FEEDBACK_TIMEOUT_S, self._check_feedback, (cid,))
            timer.daemon = True
            timer.start()
        return changed

    def _check_feedback(self, cid: int) -> None:
        contactor = self._contactors[cid]
        if not getattr(contactor, "feedback_settled", True):  # the command has not been executed yet
            timer = threading.Timer(FEEDBACK_TIMEOUT_S, self._check_feedback, (cid,))
            timer.daemon = True
            timer.start()
            return
        if contactor.commanded_closed and contactor.feedback_closed is False:
            log.error("connector %s: contactor commanded closed but its feedback reads open", cid)
            self.interlocks[cid].request_open("feedback-mismatch")

    def open_all(self, reason: str) -> None:
        for cid, interlock in self.interlocks.items():
            was_closed = self._contactors[cid].commanded_closed
            try:
                interlock.request_open(reason)
            except Exception:  # a part that cannot be reached any more (the simulated world died)
                log.exception("connector %s: opening failed", cid)
                continue
            if was_closed:
                log.warning("connector %s: contactor opened (%s)", cid, reason)

    def _any_closed(self) -> bool:
        return any(c.commanded_closed for c in self._contactors.values())

    def serve(self) -> str:
        """Handle requests until the link ends; returns why it ended. Runs in its own thread.

        The watchdog is armed only while a contactor is commanded closed: only then can a hung
        controller leave power on (with every contactor open, the interlock here refuses closing by
        itself and nothing needs the controller). Idle, this thread sleeps in recv() with no timeout and
        the controller sends no heartbeat: no wakeups in either process."""
        last_heartbeat = self._now()
        armed = tripped = False
        while True:
            closed = self._any_closed()
            if closed and not armed:
                last_heartbeat = self._now()  # the close request was the last sign of life
            armed = closed
            timeout = max(0.001, last_heartbeat + self._watchdog_s - self._now()) if armed else None
            try:
                message = self._link.recv(timeout)
            except LinkClosed as exc:
                return str(exc)
            if message is None:
                if self._any_closed():
                    tripped = True
                    log.error("controller heartbeat lost for %.0f ms: opening every contactor",
                              self._watchdog_s * 1000)
                    self.open_all("controller-watchdog")
                    self.watchdog_trips += 1  # counted once done: a trip seen is a contactor opened
                    # Waits in the link's buffer while the controller is stopped: it learns on waking.
                    self.server.send({"ev": "watchdog", "trips": self.watchdog_trips})
                continue
            last_heartbeat = self._now()
            if tripped:
                tripped = False
                log.warning("controller heartbeat is back")
            self.server.flush()  # what the controller's buffer could not take while it did not read
            if message.get("op") == "hb":
                continue
            if message.get("op") == "self_test":  # seconds long: never hold up the watchdog
                threading.Thread(target=self.server.handle, args=(message,), daemon=True).start()
            else:
                self.server.handle(message)

    def shut_down(self) -> None:
        """The controller is gone: contactors open, pilot F (the EVSE is not available)."""
        self.open_all("controller-gone")
        for cid, interlock in self.interlocks.items():
            try:
                interlock.set_pilot(PilotOutput(PilotOutputMode.NEGATIVE, 0.0))
                interlock.detach()
            except Exception:
                log.exception("connector %s: could not drive the pilot to F", cid)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


# --- the process ------------------------------------------------------------------------------------
def real_parts(spec: SupervisorSpec, clock: Any, fake: set[str]) -> dict[str, Any]:
    """Build the safety parts whose drivers are real hardware (the fake ones come over the world link)."""
    from hal.factory import BuildContext, _build

    ctx = BuildContext(spec, clock)
    parts: dict[str, Any] = {}
    for cs in spec.connectors:
        for part in CONNECTOR_SAFETY_PARTS:
            name = f"{cs.id}.{part}"
            config = getattr(cs.hal, part)
            if config is not None and name not in fake:
                parts[name] = _build(ctx, cs, part, config)
    estop = spec.station.hal.emergency_stop
    if estop is not None and "emergency_stop" not in fake:
        parts["emergency_stop"] = _build(ctx, None, "emergency_stop", estop)
    return parts


def _world_parts(link: Link, names: list[str]) -> tuple[RemoteParts, dict[str, Any]]:
    remote = RemoteParts(link, commands_wait=False)
    kinds: dict[str, type[RemotePart]] = {"pilot": RemotePilot, "contactor": RemoteContactor,
                                          "phase_switch": RemoteContactor, "rcm": RemoteRcm}
    parts = {name: kinds.get(name.rsplit(".", 1)[-1], RemoteInput)(remote, name) for name in names}
    return remote, parts


async def run(link: Link, world: Link | None, doc: dict[str, Any]) -> int:
    from pydantic import ValidationError

    from firmware.logging_setup import configure
    from firmware.safety.spec import parse_spec
    from hal.clock import RealClock
    from hal.contract import HalError
    from hal.errors import ConfigError

    try:
        spec = parse_spec(doc)
    except ValidationError as exc:  # the controller validated the same configs: a version mismatch
        link.send({"ev": "failed", "error": f"the safety supervisor refused its part configs: {exc}"})
        return 4
    configure(spec.log.level, spec.log.format, spec.log.components)
    priority = spec.rt_priority
    if priority:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except OSError as exc:  # the unit must allow it (docs/safety-supervisor.md, "Real-time")
            log.warning("cannot run the supervisor at SCHED_FIFO priority %d (%s): running normally",
                        priority, exc)
    loop = asyncio.get_running_loop()
    fake = set(spec.fake_parts)
    world_remote = None
    try:
        parts = real_parts(spec, RealClock(), fake)
        if world is not None and fake:
            world_remote, world_parts = _world_parts(world, sorted(fake))
            parts.update(world_parts)
            await asyncio.to_thread(world_remote.start)
        if PREPARE_PARTS is not None:
            PREPARE_PARTS(parts, spec)
        for part in parts.values():
            await part.start()
    except (HalError, ConfigError) as exc:  # the controller reports it as its own start-up failure
        link.send({"ev": "failed", "error": str(exc)})
        return 4
    supervisor = Supervisor(link, parts, loop,
                            ventilation={c.id: c.ventilation for c in spec.connectors},
                            watchdog_s=spec.watchdog_s)
    supervisor.attach()
    link.send({"ev": "ready", "pid": os.getpid()})
    reason = await asyncio.to_thread(supervisor.serve)
    log.warning("controller gone (%s): contactors opened, pilot F; supervisor exits", reason)
    supervisor.shut_down()
    for part in parts.values():
        with contextlib.suppress(Exception):
            await part.stop()
    if world_remote is not None:
        world_remote.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chargepi-supervisor")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--world-fd", type=int)
    args = parser.parse_args(argv)
    # What run() needs, loaded before waiting for the spec: `chargepi run` starts this process before it
    # reads its own settings (firmware.safety.launch), so both interpreters load at once.
    for module in PRELOAD:
        importlib.import_module(module)
    data = sys.stdin.read()
    if not data:  # the controller did not need a supervisor process after all, or it died first
        return 0
    spec = json.loads(data)
    link = Link(socket.socket(fileno=args.fd))
    world = Link(socket.socket(fileno=args.world_fd)) if args.world_fd is not None else None
    return asyncio.run(run(link, world, spec))


if __name__ == "__main__":
    raise SystemExit(main())
