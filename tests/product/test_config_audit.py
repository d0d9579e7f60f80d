"""Configuration changes reach the audit trail: `chargepi config set` with who made it, and at every start
the keys that differ from the last run, whoever changed them (an editor, a stopped controller)."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
from pathlib import Path

from firmware.audit.config_changes import SNAPSHOT_NAME, audit_config_changes
from firmware.audit.store import db_path, read_events
from firmware.cli.main import main
from firmware.redaction import MASK
from tests.conftest import HarnessFactory


def stored(state_dir: Path, event: str) -> list[dict[str, object]]:
    return [e.as_dict() for e in read_events(db_path(state_dir)) if e.event == event]


async def test_config_set_is_audited_with_who_and_what(make_harness: HarnessFactory, short_dir: Path) -> None:
    await make_harness(ocpp=None)
    config = short_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n')
    code = await asyncio.to_thread(main, ["config", "set", "--config", str(config),
                                          "connectors.0.max_current_a", "16"])
    assert code == 0
    [line] = stored(short_dir, "technician-command")
    user = pwd.getpwuid(os.getuid()).pw_name
    assert line["who"] == user and line["command"] == "config-set"
    assert line["params"] == {"file": str(config), "changes": {"connectors.0.max_current_a": "16"}}


async def test_a_secret_set_is_audited_masked(make_harness: HarnessFactory, short_dir: Path) -> None:
    await make_harness(ocpp=None)
    config = short_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n[ocpp]\nurl = "ws://csms.example/cp"\n'
                      'charge_point_id = "CP1"\nallow_insecure_basic_auth = true\n')
    code = await asyncio.to_thread(main, ["config", "set", "--config", str(config),
                                          "ocpp.authorization_key", "s3cret-password"])
    assert code == 0
    events = db_path(short_dir).read_bytes()
    assert b"s3cret-password" not in events
    [line] = stored(short_dir, "technician-command")
    assert line["params"]["changes"] == {"ocpp.authorization_key": MASK}  # type: ignore[index]


def test_the_keys_changed_since_the_last_start_are_audited(tmp_path: Path) -> None:
    first = {"station": {"vendor": "chargepi"}, "ocpp": {"password": "old-secret"},
             "connectors": [{"id": 1, "max_current_a": 32}]}
    assert audit_config_changes(first, tmp_path) == []  # first start: nothing to compare with
    assert audit_config_changes(first, tmp_path) == []
    second = {"station": {"vendor": "chargepi"}, "ocpp": {"password": "new-secret"},
              "connectors": [{"id": 1, "max_current_a": 16}, {"id": 2, "max_current_a": 16}]}
    assert audit_config_changes(second, tmp_path) == [
        "connectors.0.max_current_a", "connectors.1.id", "connectors.1.max_current_a", "ocpp.password"]
    snapshot = (tmp_path / SNAPSHOT_NAME).read_text()
    assert "secret" not in snapshot and json.loads(snapshot)
    assert audit_config_changes(second, tmp_path) == []


async def test_a_restart_after_an_edit_writes_one_config_changed_line(make_harness: HarnessFactory,
                                                                      short_dir: Path) -> None:
    h = await make_harness(ocpp=None)
    await h.app.stop()
    await make_harness(ocpp=None, connectors=[{"id": 1, "max_current_a": 10}])
    [line] = stored(short_dir, "config-changed")
    assert line["keys"] == ["connectors.0.max_current_a"]
    assert line["message"] == "configuration changed since the last start: connectors.0.max_current_a"


def test_an_unreadable_snapshot_never_stops_the_controller(tmp_path: Path) -> None:
    (tmp_path / SNAPSHOT_NAME).write_text("{not json")
    assert audit_config_changes({"station": {"vendor": "x"}}, tmp_path) == []
    assert json.loads((tmp_path / SNAPSHOT_NAME).read_text())  # rewritten for the next start
