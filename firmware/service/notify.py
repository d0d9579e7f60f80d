"""The systemd notify protocol (sd_notify(3)) and the feature that speaks it for the controller.

One datagram per message to the unix socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract
namespace). Written by hand rather than with the `sdnotify` package: the protocol is a dozen lines, and
that package is unmaintained and does not read $WATCHDOG_USEC / $WATCHDOG_PID.

`SystemdNotifier` is an application feature: started last, after the hardware is initialised in its safe
state, it sends READY=1; it then sends WATCHDOG=1 every WatchdogSec/2 from the asyncio loop, so a hung loop
stops feeding the watchdog and systemd restarts the controller; STATUS= follows the connector states;
STOPPING=1 on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, StatusChanged
from firmware.core.published import status_label
from hal.clock import Clock

log = logging.getLogger(__name__)

def notify_address(environ: Mapping[str, str]) -> str | None:
    """The socket address from $NOTIFY_SOCKET ("@" means the abstract namespace), None outside systemd."""
    path = environ.get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":
        return None
    return "\0" + path[1:] if path[0] == "@" else path


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None if the watchdog is off for us."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (owner and owner != str(pid)):
        return None
    return int(usec) / 2 / 1_000_000


class NotifySocket:
    """Sends notify messages; does nothing when not started by systemd. Never blocks the loop."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.address = notify_address(environ)
        self._sock: socket.socket | None = None

    def send(self, *fields: str) -> bool:
        if self.address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:  # systemd gone or its queue full: the next message tries again
            log.warning("sd_notify %s failed: %s", fields[0], exc)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def describe_station(station: StationApi) -> str:
    return ", ".join(f"connector {cid} {status_label(station.state_of(cid))}"
                     for cid in station.connector_ids)


class SystemdNotifier:
    def __init__(self, clock: Clock, station: StationApi | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._clock = clock
        self._station = station
        self._socket = NotifySocket(env)
        self.watchdog_interval_s = watchdog_interval(env, os.getpid())
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last_status = ""

    @property
    def active(self) -> bool:
        return self._socket.address is not None

    async def start(self) -> None:
        if not self.active:
            return
        status = describe_station(self._station) if self._station else "running"
        self._last_status = status
        self._socket.send("READY=1", f"STATUS={status}")
        if self._station is not None:
            self._unsubscribe = self._station.subscribe(self._on_event)
        if self.watchdog_interval_s is not None:
            self._task = asyncio.create_task(self._feed_watchdog(self.watchdog_interval_s),
                                             name="systemd-watchdog")
        log.info("told systemd we are ready (watchdog every %s s)", self.watchdog_interval_s)

    async def stop(self) -> None:
        if not self.active:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._socket.send("STOPPING=1", "STATUS=stopping")
        self._socket.close()

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, StatusChanged) and self._station is not None:
            status = describe_station(self._station)
            if status != self._last_status:
                self._last_status = status
                self._socket.send(f"STATUS={status}")

    async def _feed_watchdog(self, interval: float) -> None:
        while True:
            self._socket.send("WATCHDOG=1")
            await self._clock.sleep(interval)
