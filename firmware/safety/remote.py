"""HAL parts that live in another process: a server that exposes parts over a Link, and clients that are
parts (hal.contract protocols) themselves.

Used twice, with the same code: the controller drives the supervisor's guarded pilot, contactor, RCM
and emergency stop through these clients; and with the fake HAL the supervisor drives the simulated
world's safety lines (which live in the controller process, with the rest of the simulation) through them.

Only the safety parts are remote: pilot, contactor (main and phase switch), RCM, digital input. A client
keeps the last state the server pushed; commands are requests that wait for their reply (they are quick:
a register write on the far side). Pushed changes reach subscribers from one dispatcher thread, never
from the reader thread, so a subscriber may issue requests of its own.

No edge is lost: the server sends every change its part reports (the value the part's callback was
given, not whatever the part reads by the time the message is built), numbered per part, and keeps the
messages the peer's buffer could not take, in order, until it reads again. On the client a pilot, RCM
or input takes each change in the dispatcher, just before telling its subscribers, so a subscriber that
reads the part back (the interlock does) sees the change it is being told about: a quick unplug and
replug, or C->B->C, reaches the controller as every edge, in order.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from firmware.safety.link import Link, LinkClosed, Requester
from hal.contract import Unsubscribe
from hal.pubsub import Subscribers
from hal.types import CPState, PilotOutput, PilotOutputMode, PilotReading, SelfTestResult

log = logging.getLogger(__name__)

SELF_TEST_TIMEOUT_S = 60.0
# State messages kept while the peer does not read (SIGSTOP): beyond this many the oldest go (the client
# counts the gap in the numbering), so a stopped peer cannot grow this process without bound.
MAX_BACKLOG = 4096
CURRENT: Any = object()  # push(): encode the part's state as it reads now


# --- state encoding ---------------------------------------------------------------------------------
def part_state(kind: str, part: Any, value: Any = CURRENT) -> dict[str, Any]:
    """The part's state; `value`, if given, is the change its callback reported (a pilot reading, an RCM
    trip, an input level), used instead of reading the part again (it may have moved on since)."""
    if kind == "pilot":
        r = part.read() if value is CURRENT else value
        o = part.output
        return {"reading": [r.state.value, r.positive_v, r.negative_v, r.diode_fault],
                "output": [o.mode.value, o.duty_percent], "resolution": part.duty_resolution_percent}
    if kind == "contactor":
        return {"commanded": part.commanded_closed, "feedback": part.feedback_closed,
                "settled": getattr(part, "feedback_settled", True)}
    if kind == "rcm":
        return {"tripped": part.tripped if value is CURRENT else bool(value)}
    return {"active": part.active if value is CURRENT else bool(value)}


def kind_of(name: str) -> str:
    tail = name.rsplit(".", 1)[-1]
    return {"pilot": "pilot", "contactor": "contactor", "phase_switch": "contactor", "rcm": "rcm"}.get(
        tail, "input")


class PartServer:
    """Serves `parts` (name → part) over `link`. Requests run in the caller of `handle` (the reader);
    async ones (the RCM self test) on `loop`."""

    def __init__(self, parts: dict[str, Any], link: Link, loop: asyncio.AbstractEventLoop) -> None:
        self.parts = parts
        self._link = link
        self._loop = loop
        self._lock = threading.RLock()
        self._sent: dict[str, dict[str, Any]] = {}
        self._seq: dict[str, int] = {}
        self._backlog: collections.deque[dict[str, Any]] = collections.deque()
        self._unsubscribe: list[Unsubscribe] = []

    def subscribe(self) -> None:
        for name, part in self.parts.items():
            kind = kind_of(name)
            push = self._pusher(name)
            if kind == "pilot":
                self._unsubscribe.append(part.subscribe(push))
            elif kind == "contactor":
                self._unsubscribe.append(part.subscribe_feedback(push))
            else:
                self._unsubscribe.append(part.subscribe(push))

    def unsubscribe(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _pusher(self, name: str) -> Callable[[Any], None]:
        if kind_of(name) == "contactor":  # its callback carries the feedback only: send it whole
            return lambda _: self.push(name)
        return lambda value: self.push(name, value)

    def push(self, name: str, value: Any = CURRENT) -> None:
        """Send `name`'s state (with `value`: the change its callback reported) if it differs from the
        last one sent."""
        with self._lock:  # read under the lock: a slower pusher must not send an older state last
            state = part_state(kind_of(name), self.parts[name], value)
            if self._sent.get(name) == state:
                return
            self._send_state(name, state)

    def _send_state(self, name: str, state: dict[str, Any], **extra: Any) -> None:
        """Caller holds the lock."""
        self._sent[name] = state
        seq = self._seq[name] = self._seq.get(name, 0) + 1
        self._send({"ev": "state", "part": name, "seq": seq, "state": state, **extra})

    def send(self, message: dict[str, Any]) -> None:
        """Send an event of our own, in order with the state messages."""
        self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        """Send in order after anything still held back; hold it back if the peer's buffer is full."""
        with self._lock, contextlib.suppress(LinkClosed):
            if not self.flush() or not self._link.send(message):
                if len(self._backlog) >= MAX_BACKLOG:
                    self._backlog.popleft()
                self._backlog.append(message)

    def flush(self) -> bool:
        """Send what the peer's buffer could not take before; whether nothing is left."""
        with self._lock:
            while self._backlog:
                if not self._link.send(self._backlog[0]):
                    return False
                self._backlog.popleft()
            return True

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: part_state(kind_of(name), part) for name, part in self.parts.items()}

    def handle(self, message: dict[str, Any]) -> None:
        """Run one request and reply (a command without `id` is only run)."""
        request_id = message.get("id")
        if request_id is None:
            try:
                self._run(message)
            except Exception:
                log.exception("command %s failed", message.get("op"))
            # Acknowledged with the part's state after it: the sender judges feedback only from then on.
            name = str(message.get("part"))
            if name in self.parts:
                with self._lock:
                    self._send_state(name, part_state(kind_of(name), self.parts[name]), ack=True)
            return
        try:
            result = self._run(message)
            reply: dict[str, Any] = {"id": request_id, "ok": True, "result": result}
        except Exception as exc:  # the caller gets the error, the server goes on
            log.exception("request %s failed", message.get("op"))
            reply = {"id": request_id, "error": f"{type(exc).__name__}: {exc}"}
        self._send(reply)  # after the states the request changed, which may still be held back

    def _run(self, message: dict[str, Any]) -> Any:
        op = message["op"]
        if op == "snapshot":
            return self.snapshot()
        name = str(message["part"])
        part = self.parts[name]
        if op == "set_output":
            part.set_output(PilotOutput(PilotOutputMode(message["mode"]), float(message["duty"])))
        elif op in ("close", "open"):
            getattr(part, op)()
        elif op == "self_test":
            running = asyncio.run_coroutine_threadsafe(part.self_test(), self._loop)
            result = running.result(SELF_TEST_TIMEOUT_S)
            return [result.passed, result.detail, result.monitor_tripped]
        else:
            raise ValueError(f"unknown request {op!r}")
        for other in self.parts:  # e.g. opening the contactor changes its state; push before replying
            self.push(other)
        return part_state(kind_of(name), part)


# --- clients ----------------------------------------------------------------------------------------
class RemoteParts:
    """The client side of a PartServer: one reader thread, one dispatcher thread, one client per part."""

    def __init__(self, link: Link, on_closed: Callable[[str], None] | None = None,
                 on_message: Callable[[dict[str, Any]], None] | None = None, *,
                 commands_wait: bool = True,
                 before_command: Callable[[str, str], None] | None = None) -> None:
        """`commands_wait=False`: commands are sent like writes to an output line, without waiting for
        the far side (the supervisor drives the simulated world that way: a stopped controller process,
        where the world lives, must not hold up the supervisor's opening). `before_command(part, op)`
        is called before each command is sent."""
        self.link = link
        self.commands_wait = commands_wait
        self.before_command = before_command
        self.requester = Requester(link)
        self.parts: dict[str, RemotePart] = {}
        self.lost = 0  # state messages the server had to give up (numbering gaps): 0 unless it overflowed
        self._seq: dict[str, int] = {}
        self._events: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._on_closed = on_closed
        self._on_message = on_message
        self._threads: list[threading.Thread] = []

    def add(self, name: str, part: RemotePart) -> None:
        self.parts[name] = part

    def start(self) -> None:
        self.start_reading()
        self.resync()

    def start_reading(self) -> None:
        for target, label in ((self._read, "reader"), (self._dispatch, "dispatcher")):
            thread = threading.Thread(target=target, name=f"remote-parts-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def resync(self) -> None:
        """Fetch every part's state (at start; pushed changes keep it current afterwards)."""
        self.apply(self.requester.call("snapshot"))

    def apply(self, snapshot: dict[str, dict[str, Any]]) -> None:
        """Take in every part's state; returns once the dispatcher has (so the parts read it)."""
        for name, state in snapshot.items():
            part = self.parts.get(name)
            if part is not None:
                self._events.put(part.update(state))
        applied = threading.Event()
        self._events.put(applied.set)
        applied.wait(SELF_TEST_TIMEOUT_S)

    def stop(self) -> None:
        self._events.put(None)
        with contextlib.suppress(OSError):
            self.link.sock.shutdown(2)

    def _read(self) -> None:
        reason = "stopped"
        try:
            while True:
                message = self.link.recv()
                assert message is not None
                if "id" in message:
                    self.requester.deliver(message)
                elif message.get("ev") == "state":
                    name = str(message["part"])
                    self._count_gap(name, message.get("seq"))
                    part = self.parts.get(name)
                    if part is not None:
                        if message.get("ack"):
                            part.acked += 1
                        self._events.put(part.update(message["state"]))
                elif self._on_message is not None:
                    self._on_message(message)
        except LinkClosed as exc:
            reason = str(exc)
        finally:
            self.requester.fail_all()
            self._events.put(None)
            if self._on_closed is not None:
                self._on_closed(reason)

    def _count_gap(self, name: str, seq: Any) -> None:
        if not isinstance(seq, int):
            return
        last = self._seq.get(name)
        self._seq[name] = seq
        if last is not None and seq != last + 1:
            self.lost += max(0, seq - last - 1)
            log.error("%d state changes of %s were lost on the link (its peer did not read for long)",
                      seq - last - 1, name)

    def _dispatch(self) -> None:
        while True:
            notify = self._events.get()
            if notify is None:
                return
            try:
                notify()
            except Exception:
                log.exception("a subscriber of a remote part failed")


class RemotePart(abc.ABC):
    def __init__(self, remote: RemoteParts, name: str) -> None:
        self._remote = remote
        self.name = name
        self._subscribers: Subscribers[Any] = Subscribers(f"remote {name}")
        self.sent = 0  # commands sent without waiting, and how many the far side has acknowledged
        self.acked = 0
        remote.add(name, self)

    def _call(self, op: str, **args: Any) -> None:
        if self._remote.before_command is not None:
            self._remote.before_command(self.name, op)
        if not self._remote.commands_wait:
            self._commanded(op, args)
            self.sent += 1
            with contextlib.suppress(LinkClosed):
                self._remote.link.send({"op": op, "part": self.name, **args})
            return
        # The server pushes every state the command changed before it replies, and the reader takes
        # messages in order: when the reply is here, so is the new state (applying the reply's copy here
        # could put an older state over a newer push).
        self._remote.requester.call(op, part=self.name, **args)

    def _commanded(self, op: str, args: dict[str, Any]) -> None:
        """What a command sent without waiting changes in the local state at once (a pilot's output, a
        contactor's command); nothing for parts without commands."""
        return None

    def _add(self, callback: Callable[[Any], None]) -> Unsubscribe:
        return self._subscribers.subscribe(callback)

    def _notifier(self, value: Any) -> Callable[[], None]:
        return self._subscribers.notification(value)

    def _tell(self, value: Any) -> None:
        """Tell the subscribers now (in the dispatcher)."""
        self._notifier(value)()

    @abc.abstractmethod
    def update(self, state: dict[str, Any]) -> Callable[[], None]:
        """Take in a pushed state (in the reader thread); returns what the dispatcher runs next: the
        rest of taking it in, and telling the subscribers."""

    async def start(self) -> None:
        return None  # the far side owns the part's lifecycle

    async def stop(self) -> None:
        return None


def _nothing() -> None:
    return None


class RemotePilot(RemotePart):
    def __init__(self, remote: RemoteParts, name: str) -> None:
        super().__init__(remote, name)
        self._reading = PilotReading(CPState.A, 12.0, -12.0)
        self._output = PilotOutput(PilotOutputMode.HIGH)
        self._resolution = 0.0

    def update(self, state: dict[str, Any]) -> Callable[[], None]:
        s, pos, neg, diode = state["reading"]
        reading = PilotReading(CPState(s), float(pos), float(neg), bool(diode))
        mode, duty = state["output"]
        self._output = PilotOutput(PilotOutputMode(mode), float(duty))  # at once: a command's echo
        self._resolution = float(state["resolution"])

        def take() -> None:  # the reading in turn: read() gives the edge being told, not a later one
            before, self._reading = self._reading, reading
            if (reading.state, reading.diode_fault) != (before.state, before.diode_fault):
                self._tell(reading)

        return take

    def set_output(self, output: PilotOutput) -> None:
        self._call("set_output", mode=output.mode.value, duty=output.duty_percent)

    def _commanded(self, op: str, args: dict[str, Any]) -> None:
        self._output = PilotOutput(PilotOutputMode(args["mode"]), float(args["duty"]))

    @property
    def output(self) -> PilotOutput:
        return self._output

    @property
    def duty_resolution_percent(self) -> float:
        return self._resolution

    def read(self) -> PilotReading:
        return self._reading

    def subscribe(self, callback: Callable[[PilotReading], None]) -> Unsubscribe:
        return self._add(callback)


class RemoteContactor(RemotePart):
    def __init__(self, remote: RemoteParts, name: str) -> None:
        super().__init__(remote, name)
        self._commanded_closed = False
        self._feedback: bool | None = None
        self._settled = True

    def update(self, state: dict[str, Any]) -> Callable[[], None]:
        commanded, feedback = bool(state["commanded"]), state["feedback"]
        if not self._remote.commands_wait:
            commanded = self._commanded_closed  # our own command is the truth, not an older echo of it
        before = (self._commanded_closed, self._feedback, self._settled)
        self._commanded_closed, self._feedback = commanded, feedback
        if not self._remote.commands_wait:
            self._settled = self.acked >= self.sent
        else:
            self._settled = bool(state.get("settled", True))
        changed = (commanded, feedback, self._settled) != before
        # Subscribers hear every change, also one of the command alone (the supervisor opened on its
        # own): the controller reconciles on it.
        return self._notifier(feedback if feedback is not None else commanded) if changed else _nothing

    def _commanded(self, op: str, args: dict[str, Any]) -> None:
        self._commanded_closed = op == "close"
        self._settled = False

    def close(self) -> None:
        self._call("close")

    def open(self) -> None:
        self._call("open")

    @property
    def commanded_closed(self) -> bool:
        return self._commanded_closed

    @property
    def feedback_closed(self) -> bool | None:
        return self._feedback

    @property
    def feedback_settled(self) -> bool:
        """Whether the feedback already reflects the last command: the far side has executed it (a
        simulated contactor in a busy controller process may not have yet). A driver without this
        property is always settled; feedback checks wait while it is False."""
        return self._settled

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._add(callback)


class RemoteRcm(RemotePart):
    def __init__(self, remote: RemoteParts, name: str) -> None:
        super().__init__(remote, name)
        self._tripped = False

    def update(self, state: dict[str, Any]) -> Callable[[], None]:
        tripped = bool(state["tripped"])

        def take() -> None:
            changed, self._tripped = tripped != self._tripped, tripped
            if changed:
                self._tell(tripped)

        return take

    @property
    def tripped(self) -> bool:
        return self._tripped

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._add(callback)

    async def self_test(self) -> SelfTestResult:
        passed, detail, monitor_tripped = await asyncio.to_thread(
            self._remote.requester.call, "self_test", SELF_TEST_TIMEOUT_S, part=self.name)
        return SelfTestResult(bool(passed), str(detail), monitor_tripped=bool(monitor_tripped))


class RemoteInput(RemotePart):
    def __init__(self, remote: RemoteParts, name: str) -> None:
        super().__init__(remote, name)
        self._active = False

    def update(self, state: dict[str, Any]) -> Callable[[], None]:
        active = bool(state["active"])

        def take() -> None:
            changed, self._active = active != self._active, active
            if changed:
                self._tell(active)

        return take

    @property
    def active(self) -> bool:
        return self._active

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._add(callback)
