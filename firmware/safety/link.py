"""The local channel between the controller and the safety supervisor: one JSON object per datagram.

The channel is an AF_UNIX SOCK_SEQPACKET socket pair: the kernel keeps message boundaries (no framing of
our own) and a peer that dies, however it dies, reads as end-of-file at once. Every message is a JSON
object. A request carries an `id` and gets exactly one reply with the same `id` (`ok` plus the result,
or `error`); a message without `id` is an event and gets no reply.

Sends never block: a peer that stopped reading (SIGSTOP) must not stall the sender, which may be the
supervisor's safety path. A message that does not fit is not sent and `send` says so; the part server
(firmware.safety.remote) keeps such state messages in order and sends them once the peer reads again.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from typing import Any

MAX_MESSAGE = 65536


class LinkClosed(Exception):
    """The other process closed the channel or died."""


class Link:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()
        self.dropped = 0

    @staticmethod
    def pair() -> tuple[Link, socket.socket]:
        """A link for this process and the raw socket to hand to the other one."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return Link(ours), theirs

    def send(self, message: dict[str, Any]) -> bool:
        """Whether the message went out (False: the peer's buffer is full and it was dropped)."""
        data = json.dumps(message, separators=(",", ":")).encode()
        with self._send_lock:
            try:
                self.sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                self.dropped += 1
                return False
            except OSError as exc:
                raise LinkClosed(str(exc)) from None
        return True

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; None when `timeout` passed without one. Raises LinkClosed at end-of-file."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except TimeoutError:
            return None
        except OSError as exc:
            raise LinkClosed(str(exc)) from None
        if not data:
            raise LinkClosed("peer closed the channel")
        message = json.loads(data)
        assert isinstance(message, dict)
        return message

    def close(self) -> None:
        self.sock.close()


class Requester:
    """Requests with replies over a link whose messages are read by someone else's reader thread."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self.closed = False

    def call(self, op: str, timeout: float = 2.0, **args: Any) -> Any:
        if self.closed:
            raise LinkClosed("the channel is closed")
        request_id = next(self._ids)
        done = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            self._waiting[request_id] = (done, box)
        try:
            self._link.send({"id": request_id, "op": op, **args})
            if not done.wait(timeout):
                raise LinkClosed(f"no reply to {op} within {timeout:g} s")
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        if not box:
            raise LinkClosed("the channel closed while waiting for a reply")
        reply = box[0]
        if "error" in reply:
            raise RuntimeError(f"{op}: {reply['error']}")
        return reply.get("result")

    def deliver(self, reply: dict[str, Any]) -> None:
        with self._lock:
            waiting = self._waiting.get(int(reply["id"]))
        if waiting is not None:
            waiting[1].append(reply)
            waiting[0].set()

    def fail_all(self) -> None:
        self.closed = True
        with self._lock:
            waiting = list(self._waiting.values())
        for done, _ in waiting:
            done.set()
