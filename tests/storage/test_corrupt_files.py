"""A corrupt database file in the state directory: kept aside for analysis, rebuilt where possible, said in
the log and the status document, and the charger charges."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware.core.published import status_label
from firmware.sessions.store import SessionRecord, SessionStore
from firmware.storage.statedir import StateDir
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application_durability import online, section
from tests.storage.test_disk_full import charge, storage

GARBAGE = b"this is not an SQLite file, the SD card lost it\x00\xff" * 200

# Every SQLite file the controller opens.
FILES = ["core.sqlite", "ocpp.sqlite3", "sessions.sqlite", "smart_charging.sqlite3", "events.sqlite3",
         "security.sqlite3"]


@pytest.mark.parametrize("name", FILES)
async def test_garbage_file_is_quarantined_and_the_charger_charges(
    name: str, make_harness: HarnessFactory, csms: TestCsms, short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (short_dir / name).write_bytes(GARBAGE)
    port = await csms.start()
    with caplog.at_level(logging.ERROR):
        h = await make_harness(station={"free_charging": True}, ocpp=section(port))
    await online(h)
    status = storage(h)
    (entry,) = status["quarantined"]
    assert entry["file"] == name and "not a database" in entry["error"]
    assert status["condition"] == "ok"
    assert (short_dir / entry["kept_as"]).read_bytes() == GARBAGE  # kept for analysis
    assert any(name in r.getMessage() and entry["kept_as"] in r.getMessage() for r in caplog.records)
    await charge(h, 60)
    assert status_label(h.station.state_of(1)) == "Charging"
    await eventually(lambda: csms.calls("StartTransaction"), h.clock, 0.1)
    # The fresh file is a working database again.
    assert sqlite3.connect(short_dir / name).execute("PRAGMA quick_check").fetchone() == ("ok",)
    if name == "security.sqlite3":  # losing the security log is itself a (critical) security event
        def cleared() -> list[dict[str, str]]:
            events = csms.calls("SecurityEventNotification")
            return [c for c in events if c["type"] == "SecurityLogWasCleared"]

        await eventually(cleared, h.clock, 0.1)
        (event,) = cleared()
        assert entry["kept_as"] in event["techInfo"]


def test_readable_rows_of_a_damaged_file_are_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    store = SessionStore.open(path)
    when = datetime(2030, 1, 1, 8, tzinfo=UTC)
    for i in range(3):
        store.save(SessionRecord(f"s{i}", 1, "TAG", when, 100.0 * i, 100.0 * i + 7000, max_power_w=11000.0))
    store.close()
    db = sqlite3.connect(path)
    query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
    (index_page,) = db.execute(query, ("sessions_by_start",)).fetchone()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as f:  # the index's page is destroyed; the table itself is intact
        f.seek((index_page - 1) * page_size)
        f.write(b"\xa5" * page_size)
    state = StateDir(tmp_path)
    rebuilt = SessionStore.open(path, state)
    assert [r.session_id for r in rebuilt.sessions()] == ["s0", "s1", "s2"]
    assert rebuilt.get("s2") is not None and rebuilt.get("s2").energy_wh == 7000.0  # type: ignore[union-attr]
    assert [q["file"] for q in state.status()["quarantined"]] == ["sessions.sqlite"]
    rebuilt.close()
