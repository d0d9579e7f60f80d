"""Every edge of a safety input crosses the process boundary, in order, however fast it comes and goes.

The topology of `chargepi run` with the fake HAL, in one process: the world's lines (stubs here) are
served to a Supervisor over one link, the supervisor serves its guarded parts to the controller's remote
parts over another, and the controller's mirror SafetyInterlock turns them into the notices the state
machine acts on. A dispatcher is held (a slow subscriber, a busy process) while the input changes
several times; once it runs again, every change must arrive: a quick unplug and replug is an unplug, a
trip that reset at once is a trip. Not timed: each step waits for what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.interlock import InterlockNotice, SafetyInterlock
from firmware.core.vocabulary import Fault
from firmware.safety.link import Link
from firmware.safety.remote import PartServer, RemoteContactor, RemoteParts, RemotePilot, RemoteRcm
from firmware.safety.supervisor import Supervisor, _world_parts
from hal.contract import ConnectorHardware, EnergyMeter
from hal.types import CPState, PilotOutput, PilotOutputMode, PilotReading, SelfTestResult

VOLTS = {CPState.A: 12.0, CPState.B: 9.0, CPState.C: 6.0, CPState.D: 3.0}


class Lines:
    """Callbacks of a world part, called synchronously by the thread that changes it."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[Any], None]] = []

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def tell(self, value: Any) -> None:
        for callback in list(self.callbacks):
            callback(value)


class WorldPilot(Lines):
    def __init__(self) -> None:
        super().__init__()
        self.reading = PilotReading(CPState.A, 12.0, -12.0)
        self.output = PilotOutput(PilotOutputMode.HIGH)
        self.duty_resolution_percent = 0.1

    def read(self) -> PilotReading:
        return self.reading

    def set_output(self, output: PilotOutput) -> None:
        self.output = output

    def car(self, state: CPState) -> None:
        self.reading = PilotReading(state, VOLTS[state], -12.0)
        self.tell(self.reading)


class WorldContactor(Lines):
    commanded_closed = False
    feedback_closed: bool | None = None

    def close(self) -> None:
        self.commanded_closed = True

    def open(self) -> None:
        self.commanded_closed = False

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        return self.subscribe(callback)


class WorldRcm(Lines):
    tripped = False

    def trip(self, tripped: bool) -> None:
        self.tripped = tripped
        self.tell(tripped)

    async def self_test(self) -> SelfTestResult:
        if self.tripped:  # as the drivers: a monitor that signals cannot be tested
            return SelfTestResult(False, "monitor is tripped", monitor_tripped=True)
        return SelfTestResult(True, "")


class Gate:
    """A subscriber that holds its dispatcher from its next call until `release`."""

    def __init__(self) -> None:
        self.armed = False
        self.holding = False
        self.entered = threading.Event()
        self._open = threading.Event()

    def __call__(self, _: Any) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            self._open.wait(10)

    def hold(self) -> None:
        self.entered.clear()
        self._open.clear()
        self.armed = self.holding = True

    def release(self) -> None:
        self.holding = False
        self._open.set()


@dataclass
class Chain:
    world_pilot: WorldPilot
    world_rcm: WorldRcm
    supervisor_gate: Gate  # on the supervisor's copy of the world's pilot and RCM
    controller_gate: Gate  # on the controller's remote pilot and RCM
    controller: RemoteParts
    supervisor_remote: RemoteParts  # the supervisor's client of the world's lines
    interlock: SafetyInterlock
    rcm: RemoteRcm  # the controller's
    notices: list[InterlockNotice] = field(default_factory=list)

    def sync(self) -> None:
        """Every change made so far has reached the controller's reader: the supervisor's reader took
        it (a reply comes after the messages before it), its dispatcher passed it on (unless its gate
        holds it), and the controller's reader took that."""
        self.supervisor_remote.requester.call("snapshot")
        if not self.supervisor_gate.holding:
            self.supervisor_remote.apply({})
        self.controller.requester.call("snapshot")

    def settle(self) -> None:
        """...and the controller's dispatcher has told its subscribers (not while its gate holds)."""
        self.sync()
        self.controller.apply({})

    def cp_seen(self) -> list[CPState]:
        """The CP states the controller was told, without repeats."""
        states: list[CPState] = []
        for n in self.notices:
            if n.reading is not None and (not states or states[-1] != n.reading.state):
                states.append(n.reading.state)
        return states


@contextlib.asynccontextmanager
async def chain() -> AsyncIterator[Chain]:
    loop = asyncio.get_running_loop()
    world_pilot, world_rcm = WorldPilot(), WorldRcm()
    world: dict[str, Any] = {"1.pilot": world_pilot, "1.contactor": WorldContactor(), "1.rcm": world_rcm}
    world_link, world_theirs = Link.pair()
    world_server = PartServer(world, world_link, loop)
    world_server.subscribe()
    stop = threading.Event()

    def serve_world() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                message = world_link.recv(0.05)
                if message is not None and "op" in message:
                    world_server.handle(message)

    threading.Thread(target=serve_world, daemon=True).start()
    world_remote, parts = _world_parts(Link(world_theirs), sorted(world))
    await asyncio.to_thread(world_remote.start)
    supervisor_gate = Gate()
    parts["1.pilot"].subscribe(supervisor_gate)
    parts["1.rcm"].subscribe(supervisor_gate)
    ours, theirs = Link.pair()
    supervisor = Supervisor(Link(theirs), parts, loop, ventilation={1: False}, watchdog_s=60.0)
    supervisor.attach()
    served = asyncio.ensure_future(asyncio.to_thread(supervisor.serve))
    controller = RemoteParts(ours)
    pilot, contactor = RemotePilot(controller, "1.pilot"), RemoteContactor(controller, "1.contactor")
    rcm = RemoteRcm(controller, "1.rcm")
    await asyncio.to_thread(controller.start)
    controller_gate = Gate()
    pilot.subscribe(controller_gate)
    rcm.subscribe(controller_gate)
    notices: list[InterlockNotice] = []
    interlock = SafetyInterlock(
        ConnectorHardware(connector_id=1, pilot=pilot, contactor=contactor, meter=_no_meter(), rcm=rcm),
        ventilation=False, notify=notices.append)
    interlock.attach()
    try:
        yield Chain(world_pilot, world_rcm, supervisor_gate, controller_gate, controller, world_remote,
                    interlock, rcm, notices)
    finally:
        supervisor_gate.release()
        controller_gate.release()
        controller.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(served, 5)
        supervisor.shut_down()
        stop.set()
        world_remote.stop()


def _no_meter() -> EnergyMeter:
    meter: Any = None  # the interlock never reads the meter
    return meter  # type: ignore[no-any-return]


async def held(c: Chain, gate: Gate, changes: Callable[[], None]) -> None:
    """Make `changes` while `gate`'s dispatcher is held, then let it run."""
    gate.hold()
    await asyncio.to_thread(changes)
    await asyncio.to_thread(c.sync)
    gate.release()
    await asyncio.to_thread(c.sync)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"never: {what}")


async def test_a_quick_unplug_and_replug_reaches_the_controller_as_an_unplug() -> None:
    async with chain() as c:
        c.world_pilot.car(CPState.B)
        await eventually(lambda: c.cp_seen()[-1:] == [CPState.B], "plugged in")
        del c.notices[:]

        def unplug_replug() -> None:
            c.world_pilot.car(CPState.C)  # the gate holds the controller's dispatcher on this one
            c.controller_gate.entered.wait(10)
            c.world_pilot.car(CPState.A)
            c.world_pilot.car(CPState.B)

        await held(c, c.controller_gate, unplug_replug)
        await asyncio.to_thread(c.settle)
        assert c.cp_seen() == [CPState.C, CPState.A, CPState.B]


async def test_edges_survive_a_held_supervisor_dispatcher() -> None:
    async with chain() as c:
        c.world_pilot.car(CPState.B)
        await eventually(lambda: c.cp_seen()[-1:] == [CPState.B], "plugged in")
        del c.notices[:]

        def c_then_b() -> None:
            c.world_pilot.car(CPState.C)
            c.supervisor_gate.entered.wait(10)
            c.world_pilot.car(CPState.B)

        await held(c, c.supervisor_gate, c_then_b)
        await eventually(lambda: len(c.cp_seen()) >= 2, "two edges")
        await asyncio.to_thread(c.settle)
        assert c.cp_seen() == [CPState.C, CPState.B]


async def test_an_rcd_trip_that_resets_at_once_still_latches_in_the_controller() -> None:
    async with chain() as c:
        def trip_and_reset() -> None:
            c.world_rcm.trip(True)
            c.supervisor_gate.entered.wait(10)
            c.world_rcm.trip(False)

        await held(c, c.supervisor_gate, trip_and_reset)
        await eventually(lambda: any(n.fault == Fault.RCD_TRIP for n in c.notices), "the trip")
        assert Fault.RCD_TRIP in c.interlock.faults  # latched in the controller until a technician clears


async def test_a_self_test_that_finds_the_monitor_tripped_says_so_across_both_links() -> None:
    """The trip can reach the monitor's self test before its notice reaches the controller (its
    dispatcher held here): the controller is told the test did not run because the monitor signalled
    (it latches the trip, not rcd-selftest: tests/core/test_safety_latches.py)."""
    async with chain() as c:
        c.controller_gate.hold()
        await asyncio.to_thread(c.world_rcm.trip, True)
        result = await c.rcm.self_test()
        assert (result.passed, result.monitor_tripped) == (False, True)
        c.controller_gate.release()
        c.world_rcm.trip(False)
        result = await c.rcm.self_test()
        assert (result.passed, result.monitor_tripped) == (True, False)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([CPState.A, CPState.B, CPState.C]), min_size=1, max_size=8))
def test_every_cp_change_arrives_in_order(states: list[CPState]) -> None:
    async def run() -> None:
        async with chain() as c:
            def changes() -> None:
                for state in states:
                    c.world_pilot.car(state)

            c.controller_gate.hold()
            await asyncio.to_thread(changes)
            await asyncio.to_thread(c.sync)
            c.controller_gate.release()
            expected = [CPState.A]
            for state in states:
                if state != expected[-1]:
                    expected.append(state)
            await asyncio.to_thread(c.settle)
            assert c.cp_seen() == expected

    asyncio.run(run())


async def test_changes_the_peer_could_not_take_are_sent_later_in_order() -> None:
    """A controller that does not read (SIGSTOP) while the CP flutters: more changes than the socket
    buffer holds. Once it reads again (the supervisor flushes with each heartbeat), it gets all of them."""
    loop = asyncio.get_running_loop()
    pilot = WorldPilot()
    ours, theirs = Link.pair()
    link = Link(theirs)
    server = PartServer({"1.pilot": pilot}, link, loop)
    server.subscribe()
    flutter = [CPState.B, CPState.C] * 1500
    for state in flutter:
        pilot.car(state)
    assert link.dropped > 0  # the socket buffer did fill up
    client = RemoteParts(ours)
    remote = RemotePilot(client, "1.pilot")
    seen: list[CPState] = []
    remote.subscribe(lambda reading: seen.append(reading.state))
    client.start_reading()
    await eventually(server.flush, "the backlog sent (the supervisor flushes with each heartbeat)")
    await eventually(lambda: len(seen) == len(flutter), f"every change ({len(seen)} so far)")
    assert seen == flutter and client.lost == 0
    client.stop()
