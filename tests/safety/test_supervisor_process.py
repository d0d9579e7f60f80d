"""The real service (`chargepi run`, fake HAL) with its safety supervisor process: the supervisor opens
the contactor when the controller process is stopped (SIGSTOP: no heartbeat) and when it is killed
(SIGKILL: the link ends), and the controller charges again after a stop. Not timed: each step waits for
what the supervisor reports."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.control.client import call


def wait_until(condition: Callable[[], Any], what: str | Callable[[], str], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # the controller may be busy or starting
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what if isinstance(what, str) else what()}")
        time.sleep(0.05)


class Service:
    def __init__(self, tmp: Path) -> None:
        self.socket = tmp / "control.sock"
        config = tmp / "chargepi.toml"
        config.write_text(f'[station]\nstate_dir = "{tmp}"\ncontrol_socket = "{self.socket}"\n'
                          'supervisor_watchdog_s = 0.5\n\n[[connectors]]\nid = 1\n')
        self.process = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config",
                                         str(config)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        text=True)
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_line(self, fragment: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if fragment in line:
                    self.seen.remove(line)
                    return line
            try:
                self.seen.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no log line with {fragment!r}; seen: {self.seen[-20:]}") from None

    def status(self) -> dict[str, Any]:
        result = call(self.socket, "status", timeout=5)
        assert isinstance(result, dict)
        return result

    def connector(self) -> dict[str, Any]:
        connector = self.status()["connectors"][0]
        assert isinstance(connector, dict)
        return connector

    def charging(self) -> bool:
        c = self.connector()
        contactor = c["contactor"]
        return bool(c["status"] == "Charging" and contactor["closed"] and contactor["feedback_closed"])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(30)


@pytest.fixture
def service(short_dir: Path) -> Any:
    svc = Service(short_dir)
    yield svc
    svc.stop()


def start_charging(service: Service) -> int:
    pid = wait_until(lambda: service.status()["supervisor"]["pid"], "the supervisor's pid")
    assert pid != service.process.pid
    call(service.socket, "sim", action="plug")
    wait_until(service.charging, lambda: f"charging: {service.connector()}")
    return int(pid)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_stopped_controller_loses_the_contactor_and_gets_it_back(service: Service) -> None:
    start_charging(service)
    os.kill(service.process.pid, signal.SIGSTOP)  # hung: no heartbeat, no event loop, no GIL for anyone
    try:
        service.wait_line("heartbeat lost")
        service.wait_line("contactor opened (controller-watchdog)")
    finally:
        os.kill(service.process.pid, signal.SIGCONT)
    doc = wait_until(lambda: (s := service.status())["supervisor"]["watchdog_trips"] == 1 and s,
                     "the trip reported to the controller")
    assert doc["supervisor"]["watchdog_trips"] == 1
    wait_until(service.charging, lambda: f"charging again once the controller runs: {service.connector()}")


def test_a_killed_controller_loses_the_contactor(service: Service) -> None:
    supervisor = start_charging(service)
    service.process.kill()
    service.wait_line("controller gone")
    service.wait_line("contactor opened (controller-gone)")  # the open the supervisor commanded itself
    wait_until(lambda: not alive(supervisor), "the supervisor to exit")
