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
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from firmware.clock import RealClock
from firmware.ocpp.firmware_update import FirmwareUpdater, UpdateOutcome

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
echo "$name:x:990:990::/var/lib/chargepi:/usr/sbin/nologin" >> "$FAKE_ROOT/etc/passwd"
echo "$name:x:990:" >> "$FAKE_ROOT/etc/group"
"""
USERDEL = """#!/bin/sh
echo "userdel $*" >> "$FAKE_LOG"
for name; do :; done
sed -i "/^$name:/d" "$FAKE_ROOT/etc/passwd" "$FAKE_ROOT/etc/group"
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
    assert machine.calls("usermod") == [
        f"usermod --root {root} --append --groups gpio,spi,dialout,systemd-journal chargepi"]
    assert machine.calls("chown") == [f"chown 0:990 {root}/etc/chargepi",
                                      f"chown 990:990 {root}/var/lib/chargepi {root}/var/lib/chargepi/update",
                                      f"chown 0:990 {root}/etc/chargepi/chargepi.toml",
                                      f"chown 0:990 {root}/etc/chargepi/secrets.toml"]
    secrets = root / "etc/chargepi/secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert "authorization_key" in secrets.read_text()
    assert machine.calls("systemctl") == [
        "systemctl daemon-reload", "systemctl enable chargepi.service",
        "systemctl enable --now chargepi-update.path", "systemctl restart chargepi.service",
        "systemctl is-active --quiet chargepi"]
    for unit in ("chargepi-update.service", "chargepi-update.path"):
        assert (root / "etc/systemd/system" / unit).read_text() == (REPO / "systemd" / unit).read_text()
    share = root / "opt/chargepi/share"
    assert (share / "tools/install.sh").read_text() == INSTALL.read_text()
    assert (share / "systemd/chargepi.service").exists() and (share / "config/chargepi.toml").exists()
    assert stat.S_IMODE((root / "var/lib/chargepi/update").stat().st_mode) == 0o750


def test_running_it_again_changes_nothing_and_keeps_edits(machine: Machine) -> None:
    wheel = machine.wheel("0.1.0")
    assert machine.install("--wheel", str(wheel)).returncode == 0
    config = machine.root / "etc/chargepi/chargepi.toml"
    config.write_text(config.read_text().replace('serial_number = "CP-0001"', 'serial_number = "CP-7"'))
    done = machine.install("--wheel", str(wheel))
    assert done.returncode == 0, done.stderr
    assert "release 0.1.0 is already built" in done.stdout
    assert len(machine.calls("venv")) == 1
    assert len(machine.calls("useradd")) == 1
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
    assert "systemctl disable --now chargepi-update.path chargepi.service" in machine.calls("systemctl")
    for gone in ("opt/chargepi", "etc/systemd/system/chargepi.service", "usr/local/bin/chargepi",
                 "etc/udev/rules.d/60-chargepi-pwm.rules", "etc/systemd/system/chargepi-update.path",
                 "etc/systemd/system/chargepi-update.service"):
        assert not os.path.lexists(root / gone), gone
    assert (root / "etc/chargepi/chargepi.toml").exists() and (root / "var/lib/chargepi").is_dir()
    assert "chargepi:" in (root / "etc/passwd").read_text()

    done = machine.install("--uninstall", "--purge")
    assert done.returncode == 0, done.stderr
    assert not (root / "etc/chargepi").exists() and not (root / "var/lib/chargepi").exists()
    assert "chargepi:" not in (root / "etc/passwd").read_text()


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


def spool(machine: Machine, *files: tuple[str, bytes]) -> subprocess.CompletedProcess[str]:
    """The controller drops firmware files; the update service runs the installer kept in the share."""
    spool_dir = machine.root / "var/lib/chargepi/update"
    for name, data in files:
        (spool_dir / name).write_bytes(data)
    installer = machine.root / "opt/chargepi/share/tools/install.sh"
    return subprocess.run(["bash", str(installer), "--root", str(machine.root), "--spool", str(spool_dir)],
                          capture_output=True, text=True, env=machine.env, check=False)


def test_a_spooled_firmware_file_is_installed_whatever_its_name(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    done = spool(machine, ("firmware.bin", machine.wheel("0.2.0").read_bytes()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "firmware update: firmware.bin is chargepi 0.2.0" in done.stdout
    assert machine.current() == "releases/0.2.0"
    assert list((machine.root / "var/lib/chargepi/update").iterdir()) == []


def test_a_spooled_firmware_that_does_not_start_is_rolled_back(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    done = spool(machine, ("update.whl", machine.wheel("0.2.0", starts=False).read_bytes()))
    assert done.returncode == 1
    assert "rolled back: chargepi 0.1.0 is running again" in done.stdout
    assert machine.current() == "releases/0.1.0"


def test_spooled_files_that_are_not_chargepi_wheels_are_refused(machine: Machine) -> None:
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    done = spool(machine, ("junk.bin", b"#!/bin/sh\nrm -rf /\n"),
                 ("other.whl", machine.wheel("9.9.9", name="evil").read_bytes()))
    assert done.returncode == 1
    assert "rejected junk.bin: not a chargepi wheel" in done.stdout
    assert "rejected other.whl: not a chargepi wheel" in done.stdout
    assert machine.current() == "releases/0.1.0"
    assert list((machine.root / "var/lib/chargepi/update").iterdir()) == []


async def test_the_documented_firmware_install_command_feeds_the_spool(machine: Machine) -> None:
    """The real FirmwareUpdater downloads a wheel and runs the install command from docs/installation.md; the
    file lands complete in the spool, and the update service's installer upgrades from it."""
    assert machine.install("--wheel", str(machine.wheel("0.1.0"))).returncode == 0
    guide = (REPO / "docs/installation.md").read_text()
    command = next(line.strip().strip("`.") for line in guide.splitlines() if "fw.part" in line)
    state = machine.root / "var/lib/chargepi"
    command = command.replace("/var/lib/chargepi", str(state)).replace("sleep 1800", "sleep 0")
    payload = machine.wheel("0.2.0").read_bytes()

    class Files(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    statuses: list[str] = []

    async def notify(status: str) -> None:
        statuses.append(status)

    updater = FirmwareUpdater(RealClock(), machine.tmp / "controller-state", command, notify)
    try:
        outcome = await updater.update(f"http://127.0.0.1:{server.server_port}/chargepi.whl",
                                       datetime.now(UTC))
    finally:
        server.shutdown()
        server.server_close()
    # nobody restarted the service within the wait (no update service in this test): reported as failed
    assert outcome == UpdateOutcome.INSTALLATION_FAILED
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert [p.name for p in (state / "update").iterdir()] == ["fw.whl"]
    assert (state / "update/fw.whl").read_bytes() == payload

    done = await asyncio.to_thread(spool, machine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert machine.current() == "releases/0.2.0"
