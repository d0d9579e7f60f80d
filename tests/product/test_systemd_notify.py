"""The sd_notify protocol as systemd sees it: datagrams on a real unix socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware.app import EXIT_RESTART
from firmware.core.events import CoreEvent, StatusChanged
from firmware.core.vocabulary import ConnectorState
from firmware.service.notify import (
    SystemdNotifier,
    notify_address,
    watchdog_interval,
)
from hal.clock import RealClock, SimClock

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "chargepi.service"


class FakeSystemd:
    """A bound AF_UNIX datagram socket, like the one systemd passes in $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)

    def messages(self) -> list[dict[str, str]]:
        received: list[dict[str, str]] = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return received
            received.append(dict(line.split("=", 1) for line in data.decode().splitlines()))


Systemd = tuple[FakeSystemd, dict[str, str]]


class FakeStation:
    def __init__(self) -> None:
        self.statuses = {1: ConnectorState.AVAILABLE, 2: ConnectorState.AVAILABLE}
        self.listeners: list[Callable[[CoreEvent], None]] = []

    @property
    def connector_ids(self) -> list[int]:
        return sorted(self.statuses)

    def state_of(self, connector_id: int) -> ConnectorState:
        return self.statuses[connector_id]

    def subscribe(self, listener: Callable[[CoreEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def change(self, connector_id: int, status: ConnectorState) -> None:
        self.statuses[connector_id] = status
        event = StatusChanged(connector_id, status, None, None, datetime.now(UTC))
        for listener in list(self.listeners):
            listener(event)


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    path = tmp_path / "notify"
    fake = FakeSystemd(str(path))
    yield fake, {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "10000000"}
    fake.sock.close()


async def test_ready_status_watchdog_and_stopping_reach_systemd(systemd: Systemd) -> None:
    fake, env = systemd
    clock = SimClock()
    station = FakeStation()
    notifier = SystemdNotifier(clock, station, environ=env)  # type: ignore[arg-type]
    assert notifier.watchdog_interval_s == 5.0

    await notifier.start()
    await clock.settle()
    first = fake.messages()
    assert first[0] == {"READY": "1", "STATUS": "connector 1 Available, connector 2 Available"}
    assert first[1:] == [{"WATCHDOG": "1"}]

    await clock.advance(20)
    assert fake.messages() == [{"WATCHDOG": "1"}] * 4

    station.change(1, ConnectorState.CHARGING)
    station.change(1, ConnectorState.CHARGING)  # no change: no message
    assert fake.messages() == [{"STATUS": "connector 1 Charging, connector 2 Available"}]

    await notifier.stop()
    assert fake.messages() == [{"STOPPING": "1", "STATUS": "stopping"}]
    await clock.advance(20)
    assert fake.messages() == []
    assert station.listeners == []


async def test_abstract_namespace_socket() -> None:
    name = f"chargepi-test-{time.monotonic_ns()}"
    fake = FakeSystemd("\0" + name)
    try:
        notifier = SystemdNotifier(SimClock(), environ={"NOTIFY_SOCKET": "@" + name})
        await notifier.start()
        assert fake.messages() == [{"READY": "1", "STATUS": "running"}]
        assert notifier.watchdog_interval_s is None
        await notifier.stop()
    finally:
        fake.sock.close()


async def test_outside_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SystemdNotifier(SimClock(), environ={})
    assert not notifier.active
    await notifier.start()
    await notifier.stop()


async def test_systemd_gone_does_not_break_the_controller(systemd: Systemd) -> None:
    fake, env = systemd
    notifier = SystemdNotifier(SimClock(), environ=env)
    fake.sock.close()
    os.unlink(env["NOTIFY_SOCKET"])
    await notifier.start()  # logs a warning, keeps going
    await notifier.stop()


@pytest.mark.parametrize(("env", "pid", "expected"), [
    ({"WATCHDOG_USEC": "10000000"}, 42, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "42"}, 42, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "41"}, 42, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, 42, None),
    ({"WATCHDOG_USEC": "ten"}, 42, None),
    ({}, 42, None),
])
def test_watchdog_interval(env: dict[str, str], pid: int, expected: float | None) -> None:
    assert watchdog_interval(env, pid) == expected


def test_notify_address_forms() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify/1"}) == \
        "\0/org/freedesktop/systemd1/notify/1"
    assert notify_address({"NOTIFY_SOCKET": "relative"}) is None
    assert notify_address({}) is None


async def test_a_hung_loop_stops_feeding_the_watchdog(systemd: Systemd) -> None:
    """With the real clock, pings come from the loop: while the loop is blocked, systemd hears nothing."""
    fake, env = systemd
    env["WATCHDOG_USEC"] = "40000"  # 20 ms between pings
    arrivals: list[float] = []
    done = threading.Event()

    def listen() -> None:
        fake.sock.setblocking(True)
        fake.sock.settimeout(0.05)
        while not done.is_set():
            try:
                if fake.sock.recv(4096) == b"WATCHDOG=1":
                    arrivals.append(time.monotonic())
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen)
    listener.start()
    notifier = SystemdNotifier(RealClock(), environ=env)
    try:
        await notifier.start()
        await asyncio.sleep(0.2)
        hang_start = time.monotonic()
        time.sleep(0.5)  # noqa: ASYNC251 -- the loop hangs (a blocking call in the controller)
        hang_end = time.monotonic()
        await asyncio.sleep(0.2)
    finally:
        await notifier.stop()
        done.set()
        listener.join()
    during = [t for t in arrivals if hang_start + 0.01 < t < hang_end]
    assert during == []
    assert any(t < hang_start for t in arrivals) and any(t > hang_end for t in arrivals)


def test_unit_treats_the_reset_exit_status_as_success_and_restarts() -> None:
    unit = UNIT.read_text()
    assert f"SuccessExitStatus={EXIT_RESTART}\n" in unit
    assert "Restart=always\n" in unit
    assert "Type=notify\n" in unit
