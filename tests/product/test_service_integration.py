"""The product features wired into the real application on the fake HAL: session records from real
charging, a restart after a hung controller that first makes the hardware safe, `status --watch`."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.app import Application
from firmware.cli.status_cmd import render
from firmware.cli.watch import watch
from firmware.control.client import call
from firmware.service.notify import SystemdNotifier
from firmware.sessions.recorder import SessionRecorder
from firmware.sessions.store import SessionStore, db_path
from firmware.settings import Settings, load_settings
from hal.clock import SimClock
from hal.factory import build_station_hardware
from hal.types import PilotOutput, PilotOutputMode


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, station={"state_dir": str(tmp_path)})


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock, {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "10000000"}
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def test_a_real_charging_session_is_recorded(settings: Settings) -> None:
    clock = SimClock()
    app = Application(settings, clock=clock)
    [recorder] = [f for f in app.features if isinstance(f, SessionRecorder)]
    await app.start()
    assert app.simulation is not None
    car = app.simulation.connector(1)
    car.plug()
    await clock.advance(3600)
    energy_in_car_wh = car.snapshot()["energy_wh"]
    car.unplug()
    await clock.advance(5)
    await app.stop()

    store = SessionStore.open_read_only(db_path(settings.station.state_dir))
    [record] = store.sessions()
    store.close()
    assert record.stop_reason == "EVDisconnected"
    assert record.energy_wh == pytest.approx(energy_in_car_wh, abs=10)  # within one meter poll
    assert record.max_power_w == pytest.approx(3 * 230 * 32, rel=0.01)
    assert record.limit_changes and record.limit_changes[0][1] == 32.0
    assert recorder.writes <= 2 + 3600 / 300


async def test_after_a_watchdog_restart_the_hardware_is_made_safe_before_ready(
        settings: Settings, notify_socket: tuple[socket.socket, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd killed a hung controller mid-session: the contactor is still closed and the PWM still
    runs (GPIO and sysfs PWM keep their last state). The restarted controller opens the contactor and
    stops the PWM before it tells systemd it is ready."""
    clock = SimClock()
    hardware, simulation = build_station_hardware(settings, clock)
    assert simulation is not None
    car = simulation.connector(1)
    car.plug()
    car.pilot.set_output(PilotOutput.pwm(16 / 0.6))  # what the dead controller left: 16 A offered ...
    await clock.advance(2)
    car.contactor.close()  # ... and the contactor closed
    assert car.snapshot()["contactor_closed"] and car.snapshot()["drawn_a"] == [16.0, 16.0, 16.0]

    sock, env = notify_socket
    timeline: list[str] = []
    contactor, pilot = car.contactor, car.pilot
    real_open, real_close, real_set = contactor.open, contactor.close, pilot.set_output

    def spy_open() -> None:
        timeline.append("contactor open")
        real_open()

    def spy_close() -> None:
        timeline.append("contactor close")
        real_close()

    def spy_set(output: PilotOutput) -> None:
        timeline.append(f"pilot {output.mode}")
        real_set(output)

    monkeypatch.setattr(contactor, "open", spy_open)
    monkeypatch.setattr(contactor, "close", spy_close)
    monkeypatch.setattr(pilot, "set_output", spy_set)

    for name, value in env.items():  # as systemd starts the service
        monkeypatch.setenv(name, value)
    app = Application(settings, clock=clock, hardware=hardware, simulation=simulation)
    notifier = app.features[-1]
    assert isinstance(notifier, SystemdNotifier)
    real_send = notifier._socket.send

    def spy_send(*fields: str) -> bool:
        timeline.append(fields[0])
        return real_send(*fields)

    monkeypatch.setattr(notifier._socket, "send", spy_send)
    await app.start()
    ready = timeline.index("READY=1")
    before_ready = timeline[:ready]
    assert before_ready[0] == "contactor open"
    first_pilot = next(step for step in before_ready if step.startswith("pilot"))
    assert first_pilot == f"pilot {PilotOutputMode.HIGH}"
    assert received(sock)[0].startswith("READY=1\nSTATUS=connector 1 ")
    await app.stop()
    assert received(sock)[-1] == "STOPPING=1\nSTATUS=stopping"


async def test_status_watch_shows_the_live_view_and_survives_a_missing_controller(
        settings: Settings) -> None:
    clock = SimClock()
    app = Application(settings, clock=clock)
    await app.start()
    out = io.StringIO()
    path = settings.station.socket_path

    def fetch() -> Any:
        return call(path, "status")

    try:
        await asyncio.to_thread(watch, fetch, render, rounds=2, out=out, sleep=lambda s: None)
    finally:
        await app.stop()
    view = out.getvalue()
    assert view.count("chargepi status (Ctrl-C to quit)") == 2
    assert view.count("Connector 1: Available") == 2

    out = io.StringIO()
    watch(fetch, render, rounds=1, out=out, sleep=lambda s: None)
    assert "controller not answering: no controller is listening on" in out.getvalue()


def test_the_real_controller_process_speaks_the_notify_protocol(tmp_path: Path) -> None:
    """`chargepi run` as systemd starts it: READY after start-up, watchdog pings, STOPPING on SIGTERM."""
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n')
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000",
           "JOURNAL_STREAM": "8:1"}
    process = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert notify.recv(4096).decode() == "READY=1\nSTATUS=connector 1 Available"
        pings = [notify.recv(4096) for _ in range(5)]  # every 0.1 s
        assert pings == [b"WATCHDOG=1"] * 5
        process.send_signal(signal.SIGTERM)
        while (message := notify.recv(4096)) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1\nSTATUS=stopping"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        notify.close()
    assert process.stderr is not None
    log = process.stderr.read()
    assert "<6>level=INFO logger=firmware.service.notify" in log  # structured, with journal priorities
