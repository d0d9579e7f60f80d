"""A full state directory on a real (small tmpfs) filesystem: no transaction message, stop or energy is lost.

Essential records (queued OCPP messages, the power-loss journal) use the space reserve and, when even that
is gone, stay in memory and still reach the CSMS; session history gives way first; everything is written
back once there is space again, and the status document shows the condition throughout."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import firmware.control
from firmware.security.events import SecurityEventType, SecurityLog
from firmware.sessions.store import SessionStore, db_path
from firmware.storage.statedir import StateDir
from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application_durability import online, section
from tests.ocpp.test_durability import assert_no_duplicates, transactions
from tests.storage.conftest import SmallDisk

SCHEMA = json.loads((Path(firmware.control.__file__).parent / "status.schema.json").read_text())


def storage(h: Harness) -> dict[str, Any]:
    doc = h.station.snapshot()
    jsonschema.validate(doc, SCHEMA)
    result: dict[str, Any] = doc["storage"]
    return result


async def charge(h: Harness, seconds: float) -> None:
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await h.advance(seconds)


async def test_full_disk_online_keeps_the_stop_and_the_energy(
    make_harness: HarnessFactory, csms: TestCsms, small_disk: SmallDisk
) -> None:
    port = await csms.start()
    h = await make_harness(state_dir=small_disk.path, ocpp=section(port, MeterValueSampleInterval=30),
                           station={"free_charging": True, "storage_reserve_mb": 1})
    await online(h)
    assert storage(h)["condition"] == "ok" and storage(h)["reserve_bytes"] == 2**20
    await charge(h, 600)  # 10 minutes at 22 kW
    small_disk.fill()
    await h.advance(120)  # meter values while the disk is full
    h.sim.unplug()
    await h.advance(3)
    await eventually(lambda: csms.calls("StopTransaction"), h.clock, 0.1)
    (tx,) = transactions(csms).values()
    energy = tx["stop"]["meterStop"] - tx["start"]["meterStart"]
    assert energy == pytest.approx(22080 * 722 / 3600, rel=0.02)  # 12 minutes and the unplug delay
    assert len(tx["meters"]) >= 20
    full = storage(h)
    # The reserve was given to the essential records, which stayed on disk; the history went to memory.
    assert full["condition"] == "low_space" and full["reserve_bytes"] == 0
    assert "sessions.sqlite" in full["in_memory"]
    assert set(full["in_memory"]) <= {"sessions.sqlite", "events.sqlite3", "security.sqlite3"}  # history only
    # A full disk is a MemoryExhaustion security event (critical: the CSMS is told, through the reserve).
    await h.advance(30)
    reported = lambda: [c["type"] for c in csms.calls("SecurityEventNotification")]  # noqa: E731
    await eventually(lambda: "MemoryExhaustion" in reported(), h.clock, 0.1)
    small_disk.free()
    await h.advance(31)  # the storage monitor notices
    again = storage(h)
    assert again["condition"] == "ok" and again["in_memory"] == [] and again["reserve_bytes"] == 2**20
    reader = SessionStore.open_read_only(db_path(small_disk.path))
    (record,) = reader.sessions()
    reader.close()
    assert record.stopped_at is not None and record.energy_wh == pytest.approx(energy, abs=1)
    assert_no_duplicates(csms)


async def test_full_disk_without_reserve_keeps_everything_in_memory_and_delivers_it(
    make_harness: HarnessFactory, csms: TestCsms, small_disk: SmallDisk
) -> None:
    port = await csms.start()
    settings: dict[str, Any] = {"state_dir": small_disk.path, "station": {"free_charging": True,
                                "storage_reserve_mb": 0}, "ocpp": section(port, MeterValueSampleInterval=60)}
    h = await make_harness(**settings)
    await online(h)
    await h.app.control.dispatch({"command": "ocpp", "args": {"action": "disconnect"}})
    small_disk.fill()
    for _ in range(2):  # two whole sessions offline on a full disk
        await charge(h, 300)
        h.sim.unplug()
        await h.advance(5)
    full = storage(h)
    assert full["condition"] == "disk_full"
    assert {"core.sqlite", "ocpp.sqlite3", "sessions.sqlite"} <= set(full["in_memory"])
    assert csms.calls("StartTransaction") == []
    await h.app.control.dispatch({"command": "ocpp", "args": {"action": "connect"}})
    await eventually(lambda: len(csms.calls("StopTransaction")) == 2, h.clock, 0.1, within=20)
    txs = transactions(csms)
    assert len(txs) == 2
    for tx in txs.values():
        energy = tx["stop"]["meterStop"] - tx["start"]["meterStart"]
        assert energy == pytest.approx(22080 * 300 / 3600, rel=0.03)
    small_disk.free()
    await h.advance(31)
    assert storage(h)["condition"] == "ok" and storage(h)["in_memory"] == []
    # On disk now: the delivered queue (nothing left to send) and both session records.
    db = sqlite3.connect(small_disk.path / "ocpp.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM ocpp_transactions WHERE stop_queued = 1").fetchone() == (2,)
    db.close()
    reader = SessionStore.open_read_only(db_path(small_disk.path))
    assert len(reader.sessions()) == 2
    reader.close()
    # A restart sends nothing again.
    await h.app.stop()
    before = len(csms.frames)
    h2 = await make_harness(**settings)
    await online(h2)
    await h2.advance(5)
    assert [f[2] for f in csms.frames[before:] if f[0] == 2 and f[2] in (
        "StartTransaction", "StopTransaction", "MeterValues")] == []
    assert_no_duplicates(csms)


def test_the_security_log_survives_a_full_disk(small_disk: SmallDisk) -> None:
    """The security log is a store of the state directory: on a full disk its entries wait in memory,
    nothing is lost, and they are on disk again once there is space."""
    state = StateDir(small_disk.path)
    log = SecurityLog(small_disk.path / "security.sqlite3", SimClock(), storage=state)
    log.record(SecurityEventType.STARTUP_OF_THE_DEVICE)
    small_disk.fill()
    for n in range(50):
        log.record(SecurityEventType.INVALID_MESSAGES, f"frame {n} " + "x" * 200)
    assert [e.tech_info for e in log.since(1)][-1] == "frame 49 " + "x" * 200
    assert state.status()["in_memory"] == ["security.sqlite3"]
    small_disk.free()
    state.recover()
    assert state.status()["in_memory"] == []
    log.close()
    again = SecurityLog(small_disk.path / "security.sqlite3", SimClock())
    assert len(again.since(0)) == 51
    again.close()
