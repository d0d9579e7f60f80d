"""Configuration change listeners follow the one publish/subscribe rule (hal/pubsub.py): every accepted
change reaches every listener in the changing thread, in order; a listener that raises is logged and
the others still get the change, and the change stays accepted and persisted."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from firmware.ocpp.common.keystore import ConfigurationStore, KeySpec
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir

KEYS = {"HeartbeatInterval": KeySpec("HeartbeatInterval", "int", "60", minimum=0),
        "LocalPreAuthorize": KeySpec("LocalPreAuthorize", "bool", "false")}


def _store(tmp_path: Path) -> tuple[StateDatabase, ConfigurationStore]:
    db = StateDatabase(StateDir(tmp_path), "keys.sqlite3", essential=True, setup=None)
    return db, ConfigurationStore(db, dict(KEYS), {})


def test_a_failing_listener_does_not_keep_the_change_from_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db, store = _store(tmp_path)
    seen: list[tuple[str, str, int]] = []

    def broken(key: str, value: str) -> None:
        raise RuntimeError("listener bug")

    store.on_change(lambda k, v: seen.append((k, v, threading.get_ident())))
    store.on_change(broken)
    store.on_change(lambda k, v: seen.append((k, v.upper(), threading.get_ident())))
    with caplog.at_level(logging.ERROR):
        assert store.change("HeartbeatInterval", "300") == "Accepted"
        assert store.change("LocalPreAuthorize", "True") == "Accepted"
        assert store.change("HeartbeatInterval", "-1") == "Rejected"  # no listener hears a refusal
    me = threading.get_ident()
    assert seen == [("HeartbeatInterval", "300", me), ("HeartbeatInterval", "300", me),
                    ("LocalPreAuthorize", "true", me), ("LocalPreAuthorize", "TRUE", me)]
    assert sum("listener bug" in r.getMessage() or "listener bug" in (r.exc_text or "")
               for r in caplog.records) == 2
    db.close()
    db, again = _store(tmp_path)
    assert again.get_int("HeartbeatInterval") == 300
    db.close()
