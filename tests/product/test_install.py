"""tools/install.sh on a scratch root: systemctl, the account tools, chown and venv creation are shims.

The "wheels" are tiny shell programs standing in for the `chargepi` command (the shim pip installs
them as bin/chargepi): a good one answers `chargepi status`, a broken one does not, as a release that
cannot start would. The real wheel is checked by tools/check_wheel.sh.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
       echo 'cp "$pkg" "$(dirname "$0")/chargepi"; chmod +x "$(dirname "$0")/chargepi"'; }} > "$3/bin/pip"
    chmod +x "$3/bin/pip"
    exit 0
fi
exec {python} "$@"
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

    def wheel(self, version: str, starts: bool = True) -> Path:
        path = self.tmp / f"chargepi-{version}-py3-none-any.whl"
        path.write_text(program(version, starts))
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
    # a Raspberry Pi OS image has gpio, spi, i2c and dialout; this one lacks i2c
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\ngpio:x:997:\nspi:x:999:\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shims = {"systemctl": SYSTEMCTL, "useradd": USERADD, "userdel": USERDEL, "usermod": LOGGED,
             "chown": LOGGED, "udevadm": LOGGED, "python": PYTHON.format(python=sys.executable)}
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
    assert machine.calls("usermod") == [f"usermod --root {root} --append --groups gpio,spi,dialout chargepi"]
    assert machine.calls("chown") == [f"chown 0:990 {root}/etc/chargepi",
                                      f"chown 990:990 {root}/var/lib/chargepi",
                                      f"chown 0:990 {root}/etc/chargepi/chargepi.toml",
                                      f"chown 0:990 {root}/etc/chargepi/secrets.toml"]
    secrets = root / "etc/chargepi/secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert "authorization_key" in secrets.read_text()
    assert machine.calls("systemctl") == [
        "systemctl daemon-reload", "systemctl enable chargepi.service", "systemctl restart chargepi.service",
        "systemctl is-active --quiet chargepi"]


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
    assert "systemctl disable --now chargepi.service" in machine.calls("systemctl")
    for gone in ("opt/chargepi", "etc/systemd/system/chargepi.service", "usr/local/bin/chargepi",
                 "etc/udev/rules.d/60-chargepi-pwm.rules"):
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
    assert machine.calls("systemctl") == [f"systemctl --root={machine.root} enable chargepi.service"]


def test_bad_options_and_missing_wheels_are_refused(machine: Machine) -> None:
    done = machine.install("--frobnicate")
    assert done.returncode == 1 and "unknown option --frobnicate" in done.stderr
    done = machine.install("--wheel", str(machine.tmp / "nothing.whl"))
    assert done.returncode == 1 and "no wheel at" in done.stderr
