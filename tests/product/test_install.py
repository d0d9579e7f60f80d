"""tools/install.sh on a scratch root: systemctl, the account tools, chown and venv creation are shims.

The "wheels" are tiny shell programs standing in for the `chargepi` command (the shim pip installs
them as bin/chargepi): a good one answers `chargepi status`, a broken one does not, as a release that
cannot start would. The real wheel is checked by tools/check_wheel.sh.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from firmware.ocpp.common.firmware_update import FirmwareUpdater, UpdateOutcome
from hal.clock import RealClock
from tests.firmware_bundles import Pki, make_pki, make_wheel, signed_bundle
from tests.ocpp_transfers.conftest import HttpFiles, _serve_http

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "tools" / "install.sh"

SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$FAKE_LOG"
current="$FAKE_ROOT/opt/chargepi/current/bin/chargepi"
case "$1" in
    restart|is-active) exec "$current" status --json >/dev/null ;;
esac
exit 0
"""
USERADD = """#!/bin/sh
echo "useradd $*" >> "$FAKE_LOG"
for name; do :; done
id=$((990 + $(grep -c ':x:99[0-9]:' "$FAKE_ROOT/etc/passwd")))
echo "$name:x:$id:$id::/var/lib/$name:/usr/sbin/nologin" >> "$FAKE_ROOT/etc/passwd"
echo "$name:x:$id:" >> "$FAKE_ROOT/etc/group"
"""
USERDEL = """#!/bin/sh
echo "userdel $*" >> "$FAKE_LOG"
for name; do :; done
sed -i "/^$name:/d" "$FAKE_ROOT/etc/passwd" "$FAKE_ROOT/etc/group"
"""
GROUPADD = """#!/bin/sh
echo "groupadd $*" >> "$FAKE_LOG"
for name; do :; done
echo "$name:x:$((980 + $(grep -c ':x:98[0-9]:' "$FAKE_ROOT/etc/group"))):" >> "$FAKE_ROOT/etc/group"
"""
GROUPDEL = """#!/bin/sh
echo "groupdel $*" >> "$FAKE_LOG"
for name; do :; done
sed -i "/^$name:/d" "$FAKE_ROOT/etc/group"
"""
LOGGED = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
"""
PYTHON = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
    echo "venv $3" >> "$FAKE_LOG"
    mkdir -p "$3/bin"
    {{ echo '#!/bin/sh'; echo 'for pkg; do :; done'
       echo 'unzip -p "$pkg" chargepi > "$(dirname "$0")/chargepi"; chmod +x "$(dirname "$0")/chargepi"'
    }} > "$3/bin/pip"
    chmod +x "$3/bin/pip"
    exit 0
fi
exec {python} "$@"
"""
UNZIP = """#!/bin/sh
# unzip -p ARCHIVE MEMBER
code='import sys, zipfile as z; sys.stdout.buffer.write(z.ZipFile(sys.argv[2]).read(sys.argv[3]))'
exec {python} -c "$code" "$@"
"""


def program(version: str, starts: bool) -> str:
    return f"""#!/bin/sh
case "$1" in
    --version) echo "chargepi {version}" ;;
    status) exit {0 if starts else 1} ;;
    completion) echo "complete -F _chargepi chargepi  # {version}" ;;
esac
"""


@dataclass
class Machine:
    root: Path
    log: Path
    env: dict[str, str]
    tmp: Path

    def wheel(self, version: str, starts: bool = True, name: str = "chargepi") -> Path:
        """A wheel-shaped zip: metadata, and the program the shim pip installs as bin/chargepi."""
        path = self.tmp / f"chargepi-{version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as wheel:
            wheel.writestr(f"{name}-{version}.dist-info/METADATA",
                           f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
            wheel.writestr("chargepi", program(version, starts))
        return path

    def install(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(INSTALL), "--root", str(self.root), *args],
                              capture_output=True, text=True, env=self.env, check=False)

    def calls(self, prefix: str) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if line.startswith(prefix)]

    def current(self) -> str:
        return os.readlink(self.root / "opt/chargepi/current")

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "opt/chargepi/releases").iterdir())


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    # a Raspberry Pi OS image has gpio, spi, i2c, dialout and systemd-journal; this one lacks i2c
    (root / "etc/group").write_text(
        "root:x:0:\ndialout:x:20:\nsystemd-journal:x:101:\ngpio:x:997:\nspi:x:999:\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shims = {"systemctl": SYSTEMCTL, "useradd": USERADD, "userdel": USERDEL, "usermod": LOGGED,
             "groupadd": GROUPADD, "groupdel": GROUPDEL,
             "chown": LOGGED, "udevadm": LOGGED, "python": PYTHON.format(python=sys.executable),
             "unzip": UNZIP.format(python=sys.executable)}
    for name, text in shims.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_ROOT": str(root),
           "FAKE_LOG": str(log), "PYTHON": str(bin_dir / "python"), "CHARGEPI_START_TIMEOUT": "2"}
    env.pop("DESTDIR", None)
    return Machine(root, log, env, tmp_path)


def test_fresh_install(machine: Machine) -> None:
    done = machine.install("--wheel", str(machine.wheel("0.1.0")))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "chargepi 0.1.0 is running" in done.stdout
    root = machine.root
    assert machine.current() == "releases/0.1.0"
    assert os.readlink(root / "usr/local/bin/chargepi") == "/opt/chargepi/current/bin/chargepi"
    assert "0.1.0" in (root / "usr/share/bash-completion/completions/chargepi").read_text()
    # the unit as shipped, the udev rule for the PWM sysfs, config and state directories
    assert (root / "etc/systemd/system/chargepi.service").read_text() == \
        (REPO / "systemd/chargepi.service").read_text()
    assert 'SUBSYSTEM=="pwm"' in (root / "etc/udev/rules.d/60-chargepi-pwm.rules").read_text()
    config = root / "etc/chargepi/chargepi.toml"
    assert config.read_text() == (REPO / "config/chargepi.toml").read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/chargepi").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "var/lib/chargepi").stat().st_mode) == 0o750
    # the system user, in exactly the hardware groups this system has
    assert "chargepi:x:990:990:" in (root / "etc/passwd").read_text()
    assert "chargepi-update:x:991:991:" in (root / "etc/passwd").read_text()
    assert machine.calls("usermod") == [
        f"usermod --root {root} --append --groups gpio,spi,dialout,systemd-journal chargepi"]
    # the control-socket role groups (chargepi itself, the read-only role, comes with the user)
    assert machine.calls("groupadd") == [f"groupadd --root {root} --system chargepi-technician",
                                         f"groupadd --root {root} --system chargepi-simulator"]
    groups = (root / "etc/group").read_text()
    assert all(f"\n{g}:x:" in groups for g in ("chargepi", "chargepi-technician", "chargepi-simulator"))
    update = f"{root}/var/lib/chargepi-update"
    assert machine.calls("chown") == [f"chown 0:990 {root}/etc/chargepi",
                                      f"chown 990:990 {root}/var/lib/chargepi",
                                      f"chown 991:990 {update} {update}/results {update}/incoming "
                                      f"{update}/upload",
                                      f"chown 0:990 {root}/etc/chargepi/chargepi.toml",
                                      f"chown 0:990 {root}/etc/chargepi/secrets.toml",
                                      f"chown -R 991:991 {root}/opt/chargepi"]
    # the firmware installer's exchange with the controller; the roots only root may change
    for name, mode in (("", 0o750), ("results", 0o750), ("incoming", 0o770), ("upload", 0o770)):
        assert stat.S_IMODE((root / "var/lib/chargepi-update" / name).stat().st_mode) == mode, name
    assert stat.S_IMODE((root / "etc/chargepi/firmware-roots").stat().st_mode) == 0o755
    secrets = root / "etc/chargepi/secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert "authorization_key" in secrets.read_text()
    assert machine.calls("systemctl") == [
        "systemctl daemon-reload", "systemctl enable chargepi.service",
        "systemctl enable --now chargepi-update.path", "systemctl restart chargepi.service",
        "systemctl is-active --quiet chargepi"]
    for unit in ("chargepi-update.service", "chargepi-update.path"):
        assert (root / "etc/systemd/system" / unit).read_text() == (REPO / "systemd" / unit).read_text()
    assert (root / "opt/chargepi/releases/0.1.0/.complete").read_text() == "0.1.0\n"


def test_running_it_again_changes_nothing_and_keeps_edits(machine: Machine) -> None:
    wheel = machine.wheel("0.1.0")
    assert machine.install("--wheel", str(wheel)).returncode == 0
    config = machine.root / "etc/chargepi/chargepi.toml"
    config.write_text(config.read_text().replace('serial_number = "CP-0001"', 'serial_number = "CP-7"'))
    done = machine.install("--wheel", str(wheel))
    assert done.returncode == 0, done.stderr
    assert "release 0.1.0 is already built" in done.stdout
    assert len(machine.calls("venv")) == 1
    assert len(machine.calls("useradd")) == 2  # chargepi and chargepi-update, once
    assert len(machine.calls("groupadd")) == 2  # the technician and simulator groups, once
    assert 'serial_number = "CP-7"' in config.read_text()
    assert machine.current() == "releases/0.1.0"


def test_upgrade_keeps_config_and_state(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    config = machine.root / "etc/chargepi/chargepi.toml"
    config.write_text("# mine\n[station]\nserial_number = \"CP-7\"\n")
    (machine.root / "etc/chargepi/secrets.toml").write_text("[ocpp]\nauthorization_key = \"k\"\n")
    records = machine.root / "var/lib/chargepi/sessions.sqlite"
    records.write_bytes(b"records")
    done = machine.install("--wheel", str(machine.wheel("0.2.0")))
    assert done.returncode == 0, done.stderr
    assert "installing chargepi 0.2.0 (now running: 0.1.0)" in done.stdout
    assert machine.current() == "releases/0.2.0"
    assert machine.releases() == ["0.1.0", "0.2.0"]
    assert config.read_text() == "# mine\n[station]\nserial_number = \"CP-7\"\n"
    assert (machine.root / "etc/chargepi/secrets.toml").read_text() == "[ocpp]\nauthorization_key = \"k\"\n"
    assert records.read_bytes() == b"records"


def test_a_failed_upgrade_rolls_back_to_the_running_version(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    done = machine.install("--wheel", str(machine.wheel("0.2.0", starts=False)))
    assert done.returncode == 1
    assert "chargepi 0.2.0 did not start; rolling back to 0.1.0" in done.stdout
    assert "rolled back: chargepi 0.1.0 is running again" in done.stdout
    assert machine.current() == "releases/0.1.0"
    assert machine.calls("systemctl restart") == ["systemctl restart chargepi.service"] * 3


def test_a_failed_first_install_says_so(machine: Machine) -> None:
    done = machine.install("--wheel", str(machine.wheel("0.1.0", starts=False)))
    assert done.returncode == 1
    assert "chargepi 0.1.0 did not start (see: journalctl -u chargepi -n 50)" in done.stdout


def test_old_releases_are_pruned_but_current_and_previous_stay(machine: Machine) -> None:
    for version in ("0.1.0", "0.2.0", "0.3.0", "0.4.0"):
        assert machine.install("--wheel", str(machine.wheel(version))).returncode == 0
    assert machine.current() == "releases/0.4.0"
    assert "0.3.0" in machine.releases() and "0.4.0" in machine.releases()
    assert len(machine.releases()) == 3


def test_uninstall_keeps_config_and_state_unless_purged(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    root = machine.root
    done = machine.install("--uninstall")
    assert done.returncode == 0, done.stderr
    assert "systemctl disable --now chargepi-update.path chargepi-update.service chargepi.service" in \
        machine.calls("systemctl")
    for gone in ("opt/chargepi", "etc/systemd/system/chargepi.service", "usr/local/bin/chargepi",
                 "etc/udev/rules.d/60-chargepi-pwm.rules", "etc/systemd/system/chargepi-update.path",
                 "etc/systemd/system/chargepi-update.service"):
        assert not os.path.lexists(root / gone), gone
    assert (root / "etc/chargepi/chargepi.toml").exists() and (root / "var/lib/chargepi").is_dir()
    assert "chargepi:" in (root / "etc/passwd").read_text()

    done = machine.install("--uninstall", "--purge")
    assert done.returncode == 0, done.stderr
    assert not (root / "etc/chargepi").exists() and not (root / "var/lib/chargepi").exists()
    assert not (root / "var/lib/chargepi-update").exists()
    assert "chargepi:" not in (root / "etc/passwd").read_text()
    assert "chargepi-update:" not in (root / "etc/passwd").read_text()
    assert "chargepi-technician:" not in (root / "etc/group").read_text()
    assert "chargepi-simulator:" not in (root / "etc/group").read_text()


def test_offline_image_build_only_enables_the_unit(machine: Machine) -> None:
    done = machine.install("--wheel", str(machine.wheel("0.1.0")), "--no-start")
    assert done.returncode == 0, done.stderr
    assert machine.calls("systemctl") == [
        f"systemctl --root={machine.root} enable chargepi.service chargepi-update.path"]
    assert "chargepi 0.1.0 is installed; it starts at the next boot" in done.stdout


def test_bad_options_and_missing_wheels_are_refused(machine: Machine) -> None:
    done = machine.install("--frobnicate")
    assert done.returncode == 1 and "unknown option --frobnicate" in done.stderr
    done = machine.install("--wheel", str(machine.tmp / "nothing.whl"))
    assert done.returncode == 1 and "no wheel at" in done.stderr


def test_a_board_config_is_the_first_configuration_and_never_overwrites(machine: Machine) -> None:
    board = REPO / "config" / "pi-hat-mcp3004.toml"
    done = machine.install("--wheel", str(machine.wheel("0.1.0")), "--config", str(board))
    assert done.returncode == 0, done.stderr
    config = machine.root / "etc/chargepi/chargepi.toml"
    assert config.read_text() == board.read_text()
    config.write_text("# mine\n")
    done = machine.install("--wheel", str(machine.wheel("0.1.0")), "--config", str(board))
    assert "kept the existing" in done.stdout and config.read_text() == "# mine\n"
    broken = machine.tmp / "broken.toml"
    broken.write_text("[station\n")
    done = machine.install("--config", str(broken))
    assert done.returncode == 1 and "is not valid TOML" in done.stderr


@pytest.mark.slow
def test_a_release_built_with_the_real_venv_and_pip_runs_where_it_was_built(machine: Machine) -> None:
    """A venv's scripts name their interpreter by absolute path: one built elsewhere and moved into place
    does not run (the installer did that until issue 13)."""
    wheel = make_wheel(machine.tmp / "real", "chargepi", "0.3.0", program=(
        "import sys\ndef main():\n    print('chargepi 0.3.0')\n"))
    machine.env["PYTHON"] = sys.executable
    done = machine.install("--wheel", str(wheel))
    assert done.returncode == 0, done.stdout + done.stderr
    ran = subprocess.run([str(machine.root / "opt/chargepi/current/bin/chargepi"), "--version"],
                         capture_output=True, text=True, check=False)
    assert ran.stdout.strip() == "chargepi 0.3.0", ran.stderr


def test_firmware_roots_are_installed_for_root_only_to_change(machine: Machine) -> None:
    pem = machine.tmp / "vendor-root.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    done = machine.install("--wheel", str(machine.wheel("0.1.0")), "--firmware-root", str(pem))
    assert done.returncode == 0, done.stderr
    installed = machine.root / "etc/chargepi/firmware-roots/vendor-root.pem"
    assert installed.read_text() == pem.read_text()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    junk = machine.tmp / "junk.pem"
    junk.write_text("not a certificate")
    done = machine.install("--firmware-root", str(junk))
    assert done.returncode == 1 and "is not a PEM certificate" in done.stderr


@pytest.fixture
def http_files() -> Iterator[HttpFiles]:
    """A real HTTP firmware server on 127.0.0.1."""
    yield from _serve_http(None)


def firmware_program(version: str) -> str:
    """The new release's `chargepi`: prints its version; `status` answers like a running controller."""
    return f"""import sys
def main():
    if sys.argv[1:2] == ["--version"]:
        print("chargepi {version}")
"""


class Installed:
    """The layout tools/install.sh made, with the firmware installer run as chargepi-update.path would."""

    def __init__(self, machine: Machine, pki: Pki, confirm_timeout: float) -> None:
        self.machine = machine
        self.update_dir = machine.root / "var/lib/chargepi-update"
        # the controller's processes (cgroup.procs): a stand-in the installer restarts by SIGTERM
        self.controller = subprocess.Popen(["sleep", "300"])
        self.procs = machine.tmp / "cgroup.procs"
        self.procs.write_text(f"{self.controller.pid}\n")
        self.argv = [sys.executable, "-m", "firmware.update.installer", "--state", str(self.update_dir),
                     "--prefix", str(machine.root / "opt/chargepi"),
                     "--roots", str(machine.root / "etc/chargepi/firmware-roots"), "--python", sys.executable,
                     "--controller-procs", str(self.procs), "--confirm-timeout", str(confirm_timeout)]

    def updater(self, running: str, notify: Callable[[str], Awaitable[None]], roots: Path) -> FirmwareUpdater:
        return FirmwareUpdater(RealClock(), self.machine.tmp / "controller-state", [], notify,
                               update_dir=self.update_dir, trust_roots=[roots], running_version=running)

    def service(self) -> subprocess.Popen[str]:
        """One run of chargepi-update.service."""
        return subprocess.Popen(self.argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    async def serve_until(self, done: asyncio.Future[Any]) -> str:
        """Run the service whenever the incoming directory is not empty (the path unit) until `done`."""
        output = ""
        incoming = self.update_dir / "incoming"
        while not done.done():
            if any(incoming.iterdir()):
                proc = self.service()
                out, _ = await asyncio.to_thread(proc.communicate)
                output += out
            await asyncio.sleep(0.05)
        return output

    def close(self) -> None:
        self.controller.kill()
        self.controller.wait()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.slow
@pytest.mark.parametrize("comes_up", [True, False])
async def test_signed_update_end_to_end_on_the_installed_layout(machine: Machine, pki: Pki, comes_up: bool,
                                                                http_files: HttpFiles) -> None:
    """UpdateFirmware from a real HTTP server with the real FirmwareUpdater and the real installer service on
    the layout tools/install.sh made: the bundle is checked, built offline into a new release, switched to
    when the controller asks, and kept when the new version reports running and connected, else rolled
    back; the controller that comes up reports Installed or InstallationFailed."""
    root_pem = pki.roots / "manufacturer.pem"
    assert machine.install("--wheel", str(machine.wheel("0.1.0")), "--firmware-root", str(root_pem)) \
        .returncode == 0
    installed = Installed(machine, pki, confirm_timeout=30 if comes_up else 3)
    http_files.files["/chargepi-2.0.0.bundle"] = signed_bundle(machine.tmp / "build", pki.signer, "2.0.0",
                                                           firmware_program("2.0.0"))
    roots = machine.root / "etc/chargepi/firmware-roots"
    sent: list[str] = []

    async def notify(status: str) -> None:
        sent.append(status)

    loop = asyncio.get_running_loop()
    finished: asyncio.Future[Any] = loop.create_future()
    service = asyncio.create_task(installed.serve_until(finished))
    try:
        updater = installed.updater("0.1.0", notify, roots)
        outcome = await updater.update(http_files.url("/chargepi-2.0.0.bundle"), datetime.now(UTC))
        assert outcome is UpdateOutcome.RESTART_REQUIRED
        assert sent == ["Downloading", "Downloaded", "Installing"]
        assert machine.current() == "releases/0.1.0"  # built, not switched: a session may still run
        assert (machine.root / "opt/chargepi/releases/2.0.0/.complete").exists()
        # no session runs: switch (the installer restarts the controller: SIGTERM to its processes)
        activating = asyncio.create_task(updater.activate())  # it waits to be restarted
        await asyncio.wait_for(asyncio.to_thread(installed.controller.wait), 60)
        assert installed.controller.returncode == -15
        assert not activating.done()
        activating.cancel()
        assert machine.current() == "releases/2.0.0"
        # the controller that systemd starts again
        restarted: list[str] = []

        async def notify_restarted(status: str) -> None:
            restarted.append(status)

        if comes_up:  # the new version runs, connects and confirms (report_after_restart)
            new = installed.updater("2.0.0", notify_restarted, roots)
            assert await new.report_after_restart() == "Installed"
            await _until(lambda: not (installed.update_dir / "trial.json").exists())
            assert machine.current() == "releases/2.0.0"
        else:  # the new version never connects: after the confirmation time, back to 0.1.0
            await _until(lambda: machine.current() == "releases/0.1.0", within=60)
            await _until(lambda: not (installed.update_dir / "trial.json").exists())
            old = installed.updater("0.1.0", notify_restarted, roots)
            assert await old.report_after_restart() == "InstallationFailed"
        assert restarted == ["Installed" if comes_up else "InstallationFailed"]
    finally:
        finished.set_result(None)
        output = await service
        installed.close()
    assert "signed by CN=test firmware signing" in output
    assert ("update complete" in output) is comes_up
    assert ("rolling back to 0.1.0" in output) is not comes_up


async def _until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
