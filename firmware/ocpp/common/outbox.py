"""Persistent ordered queue of outgoing OCPP messages (SQLite), so no transaction message is ever lost.

Durable rows (StartTransaction, StopTransaction, transaction MeterValues) survive restarts, are delivered
strictly in order and retried per TransactionMessageAttempts / TransactionMessageRetryInterval. Live rows
(StatusNotification, MeterValues outside a transaction) form a lane of their own that never waits behind
the durable backlog (only behind an undelivered StartTransaction of the same connector); they are dropped
at start-up and after one failed attempt. Rows of a session carry the core's session id; the OCPP
transactionId is filled in at send time from the StartTransaction.conf recorded in `ocpp_transactions`,
so a session started offline gets its real id without rewriting queued rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from firmware.storage.database import StateDatabase

START = "StartTransaction"
STOP = "StopTransaction"
METER = "MeterValues"
STATUS = "StatusNotification"
KEEP_FINISHED = 1000
MAX_TX_DATA = 200  # MeterValue entries in one StopTransaction.transactionData


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    action: str
    payload: dict[str, Any]
    session_id: str | None
    durable: bool
    attempts: int


class Outbox:
    def __init__(self, db: StateDatabase) -> None:
        self._db = db
        db.executescript("""
            CREATE TABLE IF NOT EXISTS ocpp_outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                action TEXT NOT NULL,
                payload TEXT NOT NULL,
                session_id TEXT,
                durable INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                connector_id INTEGER
            );
            CREATE TABLE IF NOT EXISTS ocpp_transactions (
                session_id TEXT PRIMARY KEY,
                connector_id INTEGER NOT NULL,
                id_tag TEXT,
                started_at TEXT NOT NULL,
                meter_start INTEGER NOT NULL,
                transaction_id INTEGER,
                stop_queued INTEGER NOT NULL DEFAULT 0,
                start_dropped INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE IF NOT EXISTS ocpp_tx_data (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                session_id TEXT NOT NULL,
                meter_value TEXT NOT NULL
            );
            DELETE FROM ocpp_outbox WHERE durable = 0;
        """)
        db.commit()

    # ---- transactions -------------------------------------------------------------------------------
    def begin(self, session_id: str, connector_id: int, id_tag: str | None, started_at: str,
              meter_start: int, start_payload: dict[str, Any]) -> bool:
        """Record a session and queue its StartTransaction, once. False if the session was already known."""
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO ocpp_transactions (session_id, connector_id, id_tag, started_at, "
                "meter_start) VALUES (?, ?, ?, ?, ?)",
                (session_id, connector_id, id_tag, started_at, meter_start))
            if cur.rowcount == 0:
                return False
            self._insert(START, start_payload, session_id, True, connector_id)
        return True

    def end(self, session_id: str, stop_payload: dict[str, Any]) -> bool:
        """Queue the StopTransaction of a known session, once. False if already queued or unknown."""
        with self._db:
            cur = self._db.execute(
                "UPDATE ocpp_transactions SET stop_queued = 1 WHERE session_id = ? AND stop_queued = 0",
                (session_id,))
            if cur.rowcount == 0:
                return False
            self._insert(STOP, stop_payload, session_id, True, None)
        return True

    def knows(self, session_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM ocpp_transactions WHERE session_id = ?",
                                (session_id,)).fetchone() is not None

    def transaction(self, session_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT connector_id, id_tag, started_at, meter_start, transaction_id, stop_queued "
            "FROM ocpp_transactions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        keys = ("connector_id", "id_tag", "started_at", "meter_start", "transaction_id", "stop_queued")
        return dict(zip(keys, row, strict=True))

    def transaction_id(self, session_id: str) -> int | None:
        tx = self.transaction(session_id)
        return None if tx is None else tx["transaction_id"]

    def session_for_transaction(self, transaction_id: int) -> str | None:
        """The session a CSMS transactionId names; a CSMS may reuse ids, so an open session comes first,
        then the newest."""
        row = self._db.execute("SELECT session_id FROM ocpp_transactions WHERE transaction_id = ? "
                               "ORDER BY stop_queued, rowid DESC LIMIT 1", (transaction_id,)).fetchone()
        return None if row is None else str(row[0])

    def open_sessions(self) -> list[str]:
        """Sessions whose StopTransaction has not been queued yet (oldest first)."""
        return [r[0] for r in self._db.execute(
            "SELECT session_id FROM ocpp_transactions WHERE stop_queued = 0 ORDER BY rowid")]

    def set_transaction_id(self, session_id: str, transaction_id: int) -> None:
        with self._db:
            self._db.execute("UPDATE ocpp_transactions SET transaction_id = ? WHERE session_id = ?",
                             (transaction_id, session_id))

    def add_tx_data(self, session_id: str, meter_value: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("INSERT INTO ocpp_tx_data (session_id, meter_value) VALUES (?, ?)",
                             (session_id, json.dumps(meter_value)))

    def tx_data(self, session_id: str, limit: int = MAX_TX_DATA) -> list[dict[str, Any]]:
        """StopTransaction.transactionData: the first entry (Transaction.Begin) and the newest ones, at most
        `limit` in all, so a day-long session does not make a StopTransaction too large for the CSMS."""
        rows = self._db.execute(
            "SELECT meter_value FROM ocpp_tx_data WHERE session_id = ? AND (seq = (SELECT MIN(seq) FROM "
            "ocpp_tx_data WHERE session_id = ?) OR seq IN (SELECT seq FROM ocpp_tx_data WHERE session_id = ? "
            "ORDER BY seq DESC LIMIT ?)) ORDER BY seq", (session_id, session_id, session_id, limit - 1))
        return [json.loads(r[0]) for r in rows]

    # ---- queue --------------------------------------------------------------------------------------
    def _insert(self, action: str, payload: dict[str, Any], session_id: str | None, durable: bool,
                connector_id: int | None) -> None:
        self._db.execute(
            "INSERT INTO ocpp_outbox (action, payload, session_id, durable, connector_id) "
            "VALUES (?, ?, ?, ?, ?)", (action, json.dumps(payload), session_id, int(durable), connector_id))

    def push(self, action: str, payload: dict[str, Any], *, session_id: str | None = None,
             durable: bool = True) -> None:
        with self._db:
            self._insert(action, payload, session_id, durable, None)

    def add(self, action: str, payload: dict[str, Any], *, session_id: str | None = None) -> None:
        """Queue a durable row inside the caller's own database transaction (`with db:`), so the row and
        the caller's bookkeeping (e.g. a 2.0.1 transaction's next seqNo) commit together or not at all."""
        self._insert(action, payload, session_id, True, None)

    def push_status(self, connector_id: int, payload: dict[str, Any]) -> None:
        """Queue a StatusNotification, replacing an undelivered older one for the same connector."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE action = ? AND connector_id = ? AND attempts = 0",
                             (STATUS, connector_id))
            self._insert(STATUS, payload, None, False, connector_id)

    def head(self, durable: bool) -> Row | None:
        """The next row of one lane: the oldest durable row, or the oldest live row that no undelivered
        StartTransaction of its connector precedes (a status never reports a transaction before it began)."""
        row = self._db.execute(
            "SELECT seq, action, payload, session_id, durable, attempts FROM ocpp_outbox AS o "
            "WHERE durable = ? AND (durable = 1 OR NOT EXISTS (SELECT 1 FROM ocpp_outbox AS s WHERE "
            "s.action = ? AND s.connector_id = o.connector_id AND s.seq < o.seq)) ORDER BY seq LIMIT 1",
            (int(durable), START)).fetchone()
        if row is None:
            return None
        return Row(row[0], row[1], json.loads(row[2]), row[3], bool(row[4]), row[5])

    def depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox").fetchone()[0])

    def durable_depth(self, session_id: str | None = None) -> int:
        """Durable rows waiting, of one session (or transaction) or of all."""
        if session_id is None:
            return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1 AND session_id = ?",
                                    (session_id,)).fetchone()[0])

    def delivered(self, row: Row, *, transaction_id: int | None = None) -> None:
        """Remove a delivered row; for StartTransaction also record the CSMS's transactionId."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE seq = ?", (row.seq,))
            if transaction_id is not None and row.session_id is not None:
                self._db.execute("UPDATE ocpp_transactions SET transaction_id = ? WHERE session_id = ?",
                                 (transaction_id, row.session_id))
            if row.action == STOP and row.session_id is not None:
                self._db.execute("DELETE FROM ocpp_tx_data WHERE session_id = ?", (row.session_id,))
                # Keep the most recent finished sessions so a repeated stop report stays recognisable.
                self._db.execute(
                    "DELETE FROM ocpp_transactions WHERE stop_queued = 1 AND rowid NOT IN "
                    "(SELECT rowid FROM ocpp_transactions ORDER BY rowid DESC LIMIT ?)", (KEEP_FINISHED,))

    def failed(self, row: Row, max_attempts: int) -> bool:
        """Count a failed attempt. True if the row was given up (and removed)."""
        attempts = row.attempts + 1
        with self._db:
            if not row.durable or attempts >= max_attempts:
                self._db.execute("DELETE FROM ocpp_outbox WHERE seq = ?", (row.seq,))
                if row.action == START and row.session_id is not None:
                    self._abandon_session(row.session_id)
                return True
            self._db.execute("UPDATE ocpp_outbox SET attempts = ? WHERE seq = ?", (attempts, row.seq))
        return False

    def _abandon_session(self, session_id: str) -> None:
        """The StartTransaction was given up: later rows of the session could never name a transaction."""
        self._db.execute("DELETE FROM ocpp_outbox WHERE session_id = ?", (session_id,))
        self._db.execute("UPDATE ocpp_transactions SET start_dropped = 1 WHERE session_id = ?",
                         (session_id,))

    def dropped(self, row: Row) -> None:
        """Remove a row that cannot be sent at all (its session's transaction was abandoned)."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE seq = ?", (row.seq,))
