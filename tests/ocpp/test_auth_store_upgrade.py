"""A charger upgraded in the field keeps its local authorization list and its authorization cache: the
tables the 1.6 firmware wrote before tokens had a type (`ocpp_local_list`, `ocpp_auth_cache`, keyed by
idTag) are migrated into the common store at open, and decide exactly as before."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from firmware.core.authorization import AuthStatus
from firmware.ocpp.common.timefmt import rfc3339
from tests.ocpp.conftest import Harness

# The tables exactly as firmware/ocpp/v16/auth.py created them before the common store.
OLD_TABLES = """
    DROP TABLE auth_local_list;
    DROP TABLE auth_cache;
    CREATE TABLE ocpp_local_list (
        id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry TEXT, parent_id_tag TEXT);
    CREATE TABLE ocpp_auth_cache (
        id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expiry TEXT, parent_id_tag TEXT,
        used INTEGER NOT NULL);
    INSERT OR REPLACE INTO ocpp_meta (name, value) VALUES ('local_list_version', '12');
"""


async def test_the_old_list_and_cache_decide_after_the_upgrade(harness: Harness) -> None:
    harness.build()
    await harness.kill()
    later = rfc3339(harness.clock.now() + timedelta(hours=1))
    earlier = rfc3339(harness.clock.now() - timedelta(hours=1))
    db = sqlite3.connect(harness.tmp / "ocpp.sqlite3")
    with db:
        db.executescript(OLD_TABLES)
        db.executemany("INSERT INTO ocpp_local_list VALUES (?, ?, ?, ?)", [
            ("LISTED", "Accepted", later, "FLEET"), ("GONE", "Accepted", earlier, None),
            ("BANNED", "Blocked", None, None)])
        db.executemany("INSERT INTO ocpp_auth_cache VALUES (?, ?, ?, ?, ?)", [
            ("CACHED", "Accepted", None, "HOME", 1), ("ODD", "SomethingElse", None, None, 2)])
    db.close()

    adapter = harness.build()  # offline: the CSMS is never asked
    auth = adapter.authorizer
    assert auth.list_version == 12 and auth.list_size() == 3 and auth.cache_size() == 2
    listed = await auth.authorize("LISTED", 1)
    assert listed.accepted and listed.parent_id_tag == "FLEET" and "local list" in listed.source
    assert (await auth.authorize("GONE", 1)).status is AuthStatus.EXPIRED
    assert (await auth.authorize("BANNED", 1)).status is AuthStatus.BLOCKED
    cached = await auth.authorize("CACHED", 1)
    assert cached.accepted and cached.parent_id_tag == "HOME" and "cache" in cached.source
    assert not (await auth.authorize("ODD", 1)).accepted
    db = sqlite3.connect(harness.tmp / "ocpp.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert not tables & {"ocpp_local_list", "ocpp_auth_cache"}  # migrated once, not kept beside
