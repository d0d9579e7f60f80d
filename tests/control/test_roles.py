"""Local roles on the control socket, decided from the real kernel credentials of the client process.

The controller runs here (fake HAL); each client is a separate process started with another uid and other
groups (we are root in CI), talking the plain socket protocol through `firmware.control.client`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firmware.control.roles import AccessPolicy, ControlSettings, Peer, Role
from firmware.redaction import MASK
from tests.conftest import HarnessFactory

REPO = Path(__file__).resolve().parents[2]
STRANGER = 54321  # a uid no account uses
# Groups every Debian-like system has; the test maps them to the roles.
GROUPS = ControlSettings(read_only_group="sys", technician_group="daemon", simulator_group="bin")
READ_ONLY, TECHNICIAN, SIMULATOR, NOBODY = [3], [3, 1], [3, 2], [4242]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start clients as other users")


def interpreter() -> str:
    """A Python the unprivileged client uid may run (the venv's may live under root's home)."""
    candidate = os.path.realpath(sys.executable)
    parts = Path(candidate).parents
    if all(os.stat(p).st_mode & 0o001 for p in parts):
        return candidate
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no Python interpreter another user may execute")
    return "/usr/bin/python3"


async def as_user(socket_path: Path, groups: list[int], command: str, **args: Any) -> dict[str, Any]:
    """Run one control command in a process with uid STRANGER and these groups; its outcome."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from firmware.control.client import CommandFailed, call\n"
        "try:\n"
        f"    print(json.dumps({{'ok': True, 'result': call(Path({str(socket_path)!r}), {command!r}, "
        f"**{args!r})}}))\n"
        "except CommandFailed as exc:\n"
        "    print(json.dumps({'ok': False, 'error': str(exc)}))\n"
    )

    def run() -> str:
        done = subprocess.run(
            [interpreter(), "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + script],
            user=STRANGER, group=groups[0], extra_groups=groups[1:], capture_output=True, text=True,
            timeout=60, check=True, cwd="/")
        return done.stdout

    out = await asyncio.to_thread(run)
    reply: dict[str, Any] = json.loads(out)
    return reply


@pytest.fixture
async def controller(make_harness: HarnessFactory, short_dir: Path) -> Any:
    os.chmod(short_dir, 0o755)  # the client uid must reach the socket (its own mode is checked separately)
    offline_ocpp = {"url": "ws://127.0.0.1:9/ocpp", "charge_point_id": "CP-ROLES",  # nobody listens
                    "configuration": {"AllowOfflineTxForUnknownId": True}}
    harness = await make_harness(control=GROUPS.model_dump(), ocpp=offline_ocpp)
    socket_path = harness.app.control.path
    assert oct(socket_path.stat().st_mode & 0o777) == "0o660"
    socket_path.chmod(0o666)  # these tests are about roles, not about who may open the file
    harness.sim.swipe("04A1B2C3")
    await harness.advance(1)
    harness.sim.plug()
    await harness.advance(5)
    assert harness.station.session_of(1) is not None
    return harness


async def test_read_only_sees_status_and_sessions_without_id_tags(controller: Any) -> None:
    path = controller.app.control.path
    status = await as_user(path, READ_ONLY, "status")
    assert status["ok"], status
    text = json.dumps(status["result"])
    assert "04A1B2C3" not in text and MASK in text
    sessions = await as_user(path, READ_ONLY, "sessions")
    assert sessions["ok"] and sessions["result"] and "04A1B2C3" not in json.dumps(sessions["result"])
    technician = await as_user(path, TECHNICIAN, "status")
    assert "04A1B2C3" in json.dumps(technician["result"])  # the technician role sees them


@pytest.mark.parametrize(("command", "args"), [
    ("ocpp", {"action": "disconnect"}),
    ("limit", {"action": "set", "amps": 10}),
    ("fault-clear", {"fault": "RcdTripped"}),
])
async def test_read_only_cannot_change_anything(controller: Any, command: str, args: dict[str, Any]) -> None:
    reply = await as_user(controller.app.control.path, READ_ONLY, command, **args)
    assert not reply["ok"]
    assert reply["error"].startswith(f"'{command}' needs the technician role (your roles: read-only)")
    assert "group daemon" in reply["error"]


async def test_technician_sets_limits_and_the_simulator_role_drives_the_simulation(controller: Any) -> None:
    path = controller.app.control.path
    limit = await as_user(path, TECHNICIAN, "limit", action="set", amps=10)
    assert limit["ok"], limit
    refused = await as_user(path, TECHNICIAN, "sim", action="unplug")
    assert not refused["ok"] and "needs the simulator role" in refused["error"]
    assert "group bin" in refused["error"]
    unplugged = await as_user(path, SIMULATOR, "sim", action="unplug")
    assert unplugged["ok"], unplugged
    assert not (await as_user(path, SIMULATOR, "limit", action="clear"))["ok"]


async def test_a_user_in_no_role_group_gets_nothing(controller: Any) -> None:
    reply = await as_user(controller.app.control.path, NOBODY, "status")
    assert not reply["ok"] and "needs the read-only role (your roles: none)" in reply["error"]
    assert "group sys" in reply["error"]


def test_root_and_the_service_user_have_every_role() -> None:
    policy = AccessPolicy(GROUPS, service_uid=999)
    assert policy.roles_of(Peer(1, 0, 0, frozenset())) == frozenset(Role)
    assert policy.roles_of(Peer(1, 999, 999, frozenset())) == frozenset(Role)
    assert policy.roles_of(Peer(1, 1000, 1000, frozenset({1}))) == {Role.TECHNICIAN, Role.READ_ONLY}


async def test_the_sessions_cli_asks_the_running_controller_and_the_file_is_private(
    controller: Any, short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from firmware.cli.main import main
    from firmware.sessions.store import db_path

    assert oct(db_path(short_dir).stat().st_mode & 0o777) == "0o600"  # idTags: not for the group
    config = short_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n')
    assert await asyncio.to_thread(main, ["sessions", "--config", str(config), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["id_tag"] == "04A1B2C3" and rows[0]["stopped_at"] is None


async def test_read_only_sees_the_event_history_without_id_tags(controller: Any) -> None:
    path = controller.app.control.path
    events = await as_user(path, READ_ONLY, "events")
    assert events["ok"], events
    text = json.dumps(events["result"])
    assert "card-presented" in text and "session-started" in text
    assert "04A1B2C3" not in text and f"card {MASK} presented" in text  # fields and messages alike
    technician = await as_user(path, TECHNICIAN, "events", limit=50)
    assert "card 04A1B2C3 presented" in json.dumps(technician["result"])
    refused = await as_user(path, READ_ONLY, "events", since="yesterday")
    assert not refused["ok"] and "bad event selection" in refused["error"]


@pytest.mark.parametrize("name", ["events.sqlite3", "core.sqlite", "sessions.sqlite", "ocpp.sqlite3",
                                  "security.sqlite3"])
async def test_every_store_holding_id_tags_or_keys_is_private(
    controller: Any, short_dir: Path, name: str
) -> None:
    await controller.advance(1)
    for part in (short_dir / name, short_dir / f"{name}-wal"):
        if part.exists():
            assert oct(part.stat().st_mode & 0o777) == "0o600", part


async def test_the_events_cli_asks_the_running_controller(
    controller: Any, short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from firmware.cli.main import main

    config = short_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n')
    assert await asyncio.to_thread(main, ["events", "--config", str(config), "--json", "--last", "0"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    presented = [r for r in rows if r["event"] == "card-presented"]
    assert presented and presented[0]["id_tag"] == "04A1B2C3"  # root: every role
