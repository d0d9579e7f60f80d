"""A charger upgraded in the field delivers what it queued before: an outbox written before message kinds
existed (rows named only by their 1.6 action) is migrated at open and drained in order to a 1.6 CSMS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.outbox import Kind
from tests.ocpp.conftest import Harness, eventually

# The table exactly as the outbox created it before the `kind` column.
OLD_OUTBOX = """
    CREATE TABLE ocpp_outbox_old (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        session_id TEXT,
        durable INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        connector_id INTEGER
    );
    INSERT INTO ocpp_outbox_old (seq, action, payload, session_id, durable, attempts, connector_id)
        SELECT seq, action, payload, session_id, durable, attempts, connector_id FROM ocpp_outbox;
    DROP TABLE ocpp_outbox;
    ALTER TABLE ocpp_outbox_old RENAME TO ocpp_outbox;
"""


def to_old_shape(path: Path) -> list[str]:
    """Rebuild the outbox table as the old firmware left it; the actions of its durable rows, in order."""
    db = sqlite3.connect(path)
    with db:
        db.executescript(OLD_OUTBOX)
    rows = db.execute("SELECT action FROM ocpp_outbox WHERE durable = 1 ORDER BY seq").fetchall()
    db.close()
    return [r[0] for r in rows]


def kinds(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT action, kind FROM ocpp_outbox ORDER BY seq").fetchall()
    db.close()
    return rows


async def test_rows_queued_by_the_old_firmware_are_delivered_after_the_upgrade(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "60")
    await adapter.link.disable()
    station = harness.station
    station.meter(1)
    station.start(1, "FIELD")
    for _ in range(3):
        station.meter(1, 250)
        await harness.clock.advance(60)
    station.stop_session(1, StopReason.LOCAL, "FIELD")
    await adapter.stop()

    path = harness.tmp / "ocpp.sqlite3"
    old = to_old_shape(path)
    assert old == ["StartTransaction", "MeterValues", "MeterValues", "MeterValues",
                                   "StopTransaction"]

    harness.csms.tx_ids = iter([777])
    harness.build(type(station)(harness.clock))
    assert kinds(path) == [("StartTransaction", Kind.OPENS), *[("MeterValues", Kind.IN_SESSION)] * 3,
                           ("StopTransaction", Kind.CLOSES)]
    adapter = await harness.start()
    await eventually(lambda: adapter.outbox.depth() == 0, harness.clock, 0.05)
    frames = [(f[2], f[3]) for f in harness.csms.frames if f[0] == 2 and f[2] in
              ("StartTransaction", "MeterValues", "StopTransaction")]
    assert [action for action, _ in frames] == old
    assert frames[0][1]["idTag"] == "FIELD"
    assert {p["transactionId"] for _, p in frames[1:]} == {777}
    assert frames[-1][1]["reason"] == "Local"


async def test_an_old_status_row_still_yields_to_an_undelivered_start(harness: Harness) -> None:
    """The migration keeps each row's role: a live row waits behind an undelivered opening row, and a
    durable row outside a session stays a message of its own."""
    adapter = harness.build()
    adapter.outbox.begin("s1", 1, "T", "2026-01-01T00:00:00Z", 0, "StartTransaction",
                         {"connector_id": 1, "id_tag": "T", "meter_start": 0,
                          "timestamp": "2026-01-01T00:00:00Z"})
    adapter.outbox.push("SecurityEventNotification", {"type": "X", "timestamp": "2026-01-01T00:00:00Z"})
    await harness.kill()
    path = harness.tmp / "ocpp.sqlite3"
    to_old_shape(path)
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO ocpp_outbox (action, payload, durable, connector_id) VALUES "
                   "('StatusNotification', '{}', 0, 1)")
    db.close()
    migrated = harness.build()
    assert kinds(path) == [("StartTransaction", Kind.OPENS), ("SecurityEventNotification", Kind.MESSAGE)]
    migrated.outbox.push_status(1, "StatusNotification", {"connector_id": 1})
    assert migrated.outbox.head(False) is None  # waits behind the migrated StartTransaction
