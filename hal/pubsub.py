"""Publish/subscribe, the one way parts and layers tell each other about changes (HAL and firmware alike).

The rule, for every `Subscribers` list:

* **Synchronous, in the publisher's thread.** `publish(value)` calls every subscriber in the thread that
  publishes, one after the other in the order they subscribed, and returns when all have been called.
  Nothing is handed to another thread or to the event loop: this is what the safety path needs (the
  interlock sees a CP change in the measurement thread that reports it). A subscriber that must not block
  the publisher hands the work on itself (e.g. `loop.call_soon_threadsafe`).
* **A subscriber that raises does not stop the others.** Its exception (any `Exception`) is logged with
  its traceback, naming the list and the subscriber, and the remaining subscribers still get the value;
  `publish` itself never raises for a subscriber.
* **In order, also when publishing from a subscriber.** A value published on a list by one of its own
  subscribers (same thread) is delivered after the current value has reached every subscriber, still
  before the outer `publish` returns: all subscribers see the values in the order they were published.
* **Thread-safe membership.** `subscribe` and the unsubscribe function it returns may be called from any
  thread, also from inside a subscriber; a change takes effect from the next value on. No lock is held
  while subscribers run, so a subscriber may take the publisher's locks.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from hal.contract import Unsubscribe

T = TypeVar("T")

Notification = Callable[[], None]

log = logging.getLogger(__name__)


class Subscribers(Generic[T]):
    """A list of callbacks that each get every published value (see the module docstring for the rule)."""

    def __init__(self, name: str) -> None:
        self.name = name  # for the log line when a subscriber fails
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[T], None]] = []
        self._local = threading.local()  # per thread: the values waiting while this thread delivers one

    def subscribe(self, callback: Callable[[T], None]) -> Unsubscribe:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def __len__(self) -> int:
        with self._lock:
            return len(self._callbacks)

    def publish(self, value: T) -> None:
        pending: deque[T] | None = getattr(self._local, "pending", None)
        if pending is not None:  # called by one of our own subscribers: deliver after the current value
            pending.append(value)
            return
        pending = self._local.pending = deque([value])
        try:
            while pending:
                current = pending.popleft()
                with self._lock:
                    callbacks = list(self._callbacks)
                for callback in callbacks:
                    try:
                        callback(current)
                    except Exception:
                        log.exception("%s: subscriber %r failed on %s", self.name, callback,
                                      type(current).__name__)
        finally:
            self._local.pending = None

    def notification(self, value: T) -> Notification:
        """`publish(value)` as a call to make later, e.g. once the caller has released its own lock."""
        return lambda: self.publish(value)


class Watched(Generic[T]):
    """The last value subscribers were told about; `update` returns the notification a change needs.

    `key` picks what counts as a change (e.g. only the CP state and diode flag of a pilot reading).
    """

    def __init__(self, initial: T, name: str, key: Callable[[T], object] = lambda v: v) -> None:
        self.value = initial
        self._key = key
        self.subscribers: Subscribers[T] = Subscribers(name)

    def update(self, value: T) -> list[Notification]:
        """Take `value`; the notifications to run (after the caller's lock is released) if it changed."""
        changed = self._key(value) != self._key(self.value)
        self.value = value
        return [self.subscribers.notification(value)] if changed else []
