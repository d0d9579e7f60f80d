"""The firmware installer service end to end on a scratch root: real bundles, real `python -m venv` and
`pip install --no-index --require-hashes`, a stand-in for systemd that keeps the controller running
(Restart=always) and lists its processes like the unit's cgroup, and controllers that do or do not confirm.

Time in the confirmation wait is simulated: each poll advances the installer's clock by a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.update.installer import Installer
from tests.firmware_bundles import Pki, make_pki, signed_bundle, tampered, wrong_dependency_hash

# The controller stand-in: `chargepi run` confirms like FirmwareUpdater.report_after_restart does (after its
# BootNotification was accepted) when CONFIRMS, then keeps running until systemd stops it.
CONTROLLER = """\
import os, pathlib, sys, time
def main():
    if sys.argv[1:] == ["--version"]:
        print("chargepi {version}")
        return
    log = pathlib.Path(os.environ["FAKE_LOG"])
    with log.open("a") as out:
        out.write("started {version}\\n")
    if CONFIRMS:
        incoming = pathlib.Path(os.environ["UPDATE_DIR"]) / "incoming"
        tmp = incoming.parent / "upload" / "confirm.tmp"
        tmp.write_text("{version}")
        tmp.replace(incoming / "confirm")
    while True:
        time.sleep(1)
"""


def controller(confirms: bool) -> str:
    return f"CONFIRMS = {confirms}\n" + CONTROLLER


class Systemd:
    """Runs <prefix>/current/bin/chargepi run and starts it again whenever it exits (Restart=always)."""

    def __init__(self, prefix: Path, procs: Path, env: dict[str, str]) -> None:
        self.prefix, self.procs, self.env = prefix, procs, env
        self.stopping = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping:
            self.proc = subprocess.Popen([str(self.prefix / "current/bin/chargepi"), "run"], env=self.env)
            self.procs.write_text(f"{self.proc.pid}\n")
            self.proc.wait()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.stopping = True
        # Kill until the loop has ended: a controller started just as `stopping` was set would otherwise
        # outlive the test and hold pytest's output open.
        while self.thread.is_alive():
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
            self.thread.join(0.1)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        threading.Event().wait(0.02)  # let the real processes run
        self.t += seconds


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Machine:
    def __init__(self, tmp: Path, pki: Pki) -> None:
        self.tmp, self.pki = tmp, pki
        self.prefix = tmp / "opt/chargepi"
        self.state = tmp / "var/lib/chargepi-update"
        for d in ("incoming", "upload", "results"):
            (self.state / d).mkdir(parents=True)
        self.procs = tmp / "cgroup.procs"
        self.clock = Clock()
        self.log = tmp / "controller.log"
        self.installer = Installer(self.state, self.prefix, [pki.roots], sys.executable,
                                   confirm_timeout_s=120, controller_procs=self.procs, now=self.clock.now,
                                   sleep=self.clock.sleep)
        env = {**os.environ, "FAKE_LOG": str(self.log), "UPDATE_DIR": str(self.state)}
        self.systemd = Systemd(self.prefix, self.procs, env)

    def drop(self, name: str, data: bytes) -> None:
        (self.state / "upload" / name).write_bytes(data)
        (self.state / "upload" / name).replace(self.state / "incoming" / name)

    def result(self, name: str) -> dict[str, object]:
        import json

        return dict(json.loads((self.state / "results" / f"{name}.json").read_text()))

    def current(self) -> str:
        return os.readlink(self.prefix / "current")

    def started(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def machine(tmp_path: Path, pki: Pki) -> Iterator[Machine]:
    m = Machine(tmp_path, pki)
    yield m
    m.systemd.stop()


def bundle(machine: Machine, version: str, confirms: bool = True) -> bytes:
    return signed_bundle(machine.tmp / f"build-{version}", machine.pki.signer, version, controller(confirms))


def first_install(machine: Machine) -> None:
    """1.0.0 installed and running, as tools/install.sh leaves a charger."""
    machine.drop("first.bundle", bundle(machine, "1.0.0"))
    machine.installer.run()
    assert machine.result("first")["state"] == "prepared"
    machine.installer._switch("1.0.0")
    machine.systemd.thread.start()


def test_bad_bundles_dropped_straight_into_the_spool_install_nothing(machine: Machine) -> None:
    """A compromised controller could skip its own checks: the service checks everything again."""
    good = bundle(machine, "2.0.0")
    machine.drop("tampered.bundle", tampered(good))
    machine.drop("stranger.bundle", signed_bundle(machine.tmp / "s", machine.pki.stranger, "2.0.1"))
    machine.drop("dephash.bundle", wrong_dependency_hash(good, machine.pki.signer))
    machine.drop("unsigned.bundle", signed_bundle(machine.tmp / "u", None, "2.0.2"))
    machine.drop("revoked.bundle", signed_bundle(machine.tmp / "r", machine.pki.revoked, "2.0.3"))
    (machine.state / "incoming/junk").write_text("x")
    (machine.state / "incoming/link.bundle").symlink_to("/etc/passwd")
    machine.installer.run()
    names = ("tampered", "stranger", "dephash", "unsigned", "link", "revoked")
    assert {n: machine.result(n)["problem"] for n in names} == {
        "tampered": "hash", "stranger": "certificate", "dephash": "hash", "unsigned": "signature",
        "link": "malformed", "revoked": "certificate"}
    assert "was revoked by" in str(machine.result("revoked")["message"])
    assert not machine.prefix.exists() or not any((machine.prefix / "releases").iterdir())
    assert list((machine.state / "incoming").iterdir()) == []  # nothing left to retrigger the path unit
    assert list((machine.state / "work").iterdir()) == []


def test_a_bundle_missing_a_dependency_fails_offline_and_leaves_nothing(machine: Machine) -> None:
    from firmware.update.bundle import build_bundle
    from tests.firmware_bundles import make_wheel

    wheel = make_wheel(machine.tmp / "w", "chargepi", "2.0.0", requires=("requests",),
                       program=controller(True).replace("{version}", "2.0.0"))
    build_bundle(machine.tmp / "x.bundle", [wheel], machine.pki.signer.key, machine.pki.signer.chain_pem)
    machine.drop("nodep.bundle", (machine.tmp / "x.bundle").read_bytes())
    machine.installer.run()
    result = machine.result("nodep")
    assert result["state"] == "failed" and "requests" in str(result["message"])
    assert list((machine.prefix / "releases").iterdir()) == []


def test_update_switches_and_a_version_that_never_connects_is_rolled_back(machine: Machine) -> None:
    first_install(machine)
    machine.drop("u2.bundle", bundle(machine, "2.0.0", confirms=False))
    machine.installer.run()
    assert machine.result("u2") == {"state": "prepared", "version": "2.0.0", "problem": None, "message": "",
                                    "signer": "CN=test firmware signing"}
    assert machine.current() == "releases/1.0.0"  # prepared only: nothing switches during a session
    # the pip-built release holds the dependency from the bundle
    site = next((machine.prefix / "releases/2.0.0/lib").glob("python3*/site-packages"))
    assert (site / "chargepi_dep.py").exists()

    (machine.state / "upload/activate").write_text("2.0.0")
    (machine.state / "upload/activate").replace(machine.state / "incoming/activate")
    machine.installer.run()  # switches, restarts the controller, waits 120 s (simulated), rolls back
    assert machine.current() == "releases/1.0.0"
    assert machine.started()[:2] == ["started 1.0.0", "started 2.0.0"]
    assert _eventually(lambda: machine.started()[-1] == "started 1.0.0")
    assert not (machine.state / "trial.json").exists()
    assert sorted(p.name for p in (machine.prefix / "releases").iterdir()) == ["1.0.0", "2.0.0"]

    # the same with a version that comes up and confirms: it stays
    machine.drop("u3.bundle", bundle(machine, "3.0.0"))
    machine.installer.run()
    (machine.state / "incoming/activate").write_text("3.0.0")
    machine.installer.run()
    assert machine.current() == "releases/3.0.0"
    assert machine.started()[-1] == "started 3.0.0"
    assert not (machine.state / "trial.json").exists()
    assert not (machine.state / "incoming/confirm").exists()
    assert sorted(p.name for p in (machine.prefix / "releases").iterdir()) == ["1.0.0", "2.0.0", "3.0.0"]


def test_a_trial_interrupted_by_a_reboot_is_finished_at_the_next_start(machine: Machine) -> None:
    first_install(machine)
    machine.drop("u2.bundle", bundle(machine, "2.0.0", confirms=False))
    machine.installer.run()
    # the service was switching when the power went: the trial record and the new link are there
    import json

    (machine.state / "trial.json").write_text(json.dumps(
        {"version": "2.0.0", "previous": "1.0.0", "deadline": machine.clock.now() + 60}))
    machine.installer._switch("2.0.0")
    machine.installer.run()  # at boot
    assert machine.current() == "releases/1.0.0"


def _eventually(check: object, within: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False
