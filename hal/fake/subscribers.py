"""Thread-safe subscriber lists, and a watched value that tells its subscribers when it changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from hal.contract import Unsubscribe

T = TypeVar("T")

Notification = Callable[[], None]


class Subscribers(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[T], None]] = []

    def add(self, callback: Callable[[T], None]) -> Unsubscribe:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def notifications(self, value: T) -> list[Notification]:
        """One call per subscriber, to be run after the caller has released its own lock."""
        with self._lock:
            callbacks = list(self._callbacks)
        return [_bind(cb, value) for cb in callbacks]

    def notify(self, value: T) -> None:
        for notification in self.notifications(value):
            notification()


def _bind(callback: Callable[[T], None], value: T) -> Notification:
    return lambda: callback(value)


class Watched(Generic[T]):
    """The last value subscribers were told about; `update` returns the notifications a change needs.

    `key` picks what counts as a change (e.g. only the CP state and diode flag of a pilot reading).
    """

    def __init__(self, initial: T, key: Callable[[T], object] = lambda v: v) -> None:
        self.value = initial
        self._key = key
        self.subscribers: Subscribers[T] = Subscribers()

    def update(self, value: T) -> list[Notification]:
        changed = self._key(value) != self._key(self.value)
        self.value = value
        return self.subscribers.notifications(value) if changed else []
