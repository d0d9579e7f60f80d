"""Persistent ordered queue of outgoing OCPP messages (SQLite), so no transaction message is ever lost.

The outbox knows a row by its neutral `Kind` (what the row is to a session); the message itself (`action`,
`payload`) belongs to the OCPP version that queued it and is opaque here. Durable rows (a session's
opening, closing and in-session messages, and durable events) survive restarts, are delivered strictly in
order and retried by the version's delivery loop. Live rows (statuses, values outside a session) form a
lane of their own that never waits behind the durable backlog (only behind an undelivered opening row of
the same connector); they are dropped at start-up and after one failed attempt. Rows of a session carry
the core's session id; an id the back end assigns (OCPP 1.6 transactionId) is recorded in
`ocpp_transactions` when the opening row is answered and filled in at send time, so a session started
offline gets its real id without rewriting queued rows.

Databases written before kinds existed (rows named only by their 1.6 action) are migrated at open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from firmware.storage.database import StateDatabase


class Kind(StrEnum):
    """What a row is to the outbox, whatever OCPP version queued it and whatever message it sends."""

    OPENS = "opens"  # opens a session whose id the back end assigns: later rows wait for it, die with it
    CLOSES = "closes"  # closes a session: once delivered, the session's transaction data is forgotten
    IN_SESSION = "in_session"  # any other row of a session
    STATUS = "status"  # live: a newer one replaces an undelivered older one of the same connector
    MESSAGE = "message"  # anything else, durable or live


# Rows written before the `kind` column existed carry only their message name; the 1.6 adapter (and the
# 2.0.1 one, whose TransactionEvent rows are in-session) wrote them. Kept to migrate such databases.
_LEGACY_KINDS = f"""
    UPDATE ocpp_outbox SET kind = CASE
        WHEN action = 'StartTransaction' THEN '{Kind.OPENS}'
        WHEN action = 'StopTransaction' THEN '{Kind.CLOSES}'
        WHEN action = 'StatusNotification' THEN '{Kind.STATUS}'
        WHEN session_id IS NOT NULL THEN '{Kind.IN_SESSION}'
        ELSE '{Kind.MESSAGE}' END
"""
KEEP_FINISHED = 1000
MAX_TX_DATA = 200  # meter value entries kept for a session's closing row


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    kind: Kind
    action: str  # the message name, in the terms of the version that queued the row
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
                connector_id INTEGER,
                kind TEXT NOT NULL DEFAULT 'message'
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
        """)
        columns = {r[1] for r in db.execute("PRAGMA table_info(ocpp_outbox)")}
        with db:
            if "kind" not in columns:
                db.execute("ALTER TABLE ocpp_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'")
                db.execute(_LEGACY_KINDS)
            db.execute("DELETE FROM ocpp_outbox WHERE durable = 0")

    # ---- transactions -------------------------------------------------------------------------------
    def begin(self, session_id: str, connector_id: int, id_tag: str | None, started_at: str,
              meter_start: int, action: str, payload: dict[str, Any]) -> bool:
        """Record a session and queue its opening row, once. False if the session was already known."""
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO ocpp_transactions (session_id, connector_id, id_tag, started_at, "
                "meter_start) VALUES (?, ?, ?, ?, ?)",
                (session_id, connector_id, id_tag, started_at, meter_start))
            if cur.rowcount == 0:
                return False
            self._insert(Kind.OPENS, action, payload, session_id, True, connector_id)
        return True

    def end(self, session_id: str, action: str, payload: dict[str, Any]) -> bool:
        """Queue the closing row of a known session, once. False if already queued or unknown."""
        with self._db:
            cur = self._db.execute(
                "UPDATE ocpp_transactions SET stop_queued = 1 WHERE session_id = ? AND stop_queued = 0",
                (session_id,))
            if cur.rowcount == 0:
                return False
            self._insert(Kind.CLOSES, action, payload, session_id, True, None)
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
        """Sessions whose closing row has not been queued yet (oldest first)."""
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
        """A session's transaction data (1.6 StopTransaction.transactionData): the first entry (its begin)
        and the newest ones, at most `limit` in all, so a day-long session's closing message stays small."""
        rows = self._db.execute(
            "SELECT meter_value FROM ocpp_tx_data WHERE session_id = ? AND (seq = (SELECT MIN(seq) FROM "
            "ocpp_tx_data WHERE session_id = ?) OR seq IN (SELECT seq FROM ocpp_tx_data WHERE session_id = ? "
            "ORDER BY seq DESC LIMIT ?)) ORDER BY seq", (session_id, session_id, session_id, limit - 1))
        return [json.loads(r[0]) for r in rows]

    # ---- queue --------------------------------------------------------------------------------------
    def _insert(self, kind: Kind, action: str, payload: dict[str, Any], session_id: str | None,
                durable: bool, connector_id: int | None) -> None:
        self._db.execute(
            "INSERT INTO ocpp_outbox (kind, action, payload, session_id, durable, connector_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, action, json.dumps(payload), session_id, int(durable), connector_id))

    @staticmethod
    def _kind(session_id: str | None) -> Kind:
        return Kind.MESSAGE if session_id is None else Kind.IN_SESSION

    def push(self, action: str, payload: dict[str, Any], *, session_id: str | None = None,
             durable: bool = True) -> None:
        """Queue a row: in-session if it names a session, else a message of its own."""
        with self._db:
            self._insert(self._kind(session_id), action, payload, session_id, durable, None)

    def add(self, action: str, payload: dict[str, Any], *, session_id: str | None = None) -> None:
        """Queue a durable row inside the caller's own database transaction (`with db:`), so the row and
        the caller's bookkeeping (e.g. a 2.0.1 transaction's next seqNo) commit together or not at all."""
        self._insert(self._kind(session_id), action, payload, session_id, True, None)

    def push_status(self, connector_id: int, action: str, payload: dict[str, Any]) -> None:
        """Queue a live status, replacing an undelivered older one for the same connector."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE kind = ? AND connector_id = ? AND attempts = 0",
                             (Kind.STATUS, connector_id))
            self._insert(Kind.STATUS, action, payload, None, False, connector_id)

    def head(self, durable: bool) -> Row | None:
        """The next row of one lane: the oldest durable row, or the oldest live row that no undelivered
        opening row of its connector precedes (a status never reports a session before it began)."""
        row = self._db.execute(
            "SELECT seq, kind, action, payload, session_id, durable, attempts FROM ocpp_outbox AS o "
            "WHERE durable = ? AND (durable = 1 OR NOT EXISTS (SELECT 1 FROM ocpp_outbox AS s WHERE "
            "s.kind = ? AND s.connector_id = o.connector_id AND s.seq < o.seq)) ORDER BY seq LIMIT 1",
            (int(durable), Kind.OPENS)).fetchone()
        if row is None:
            return None
        return Row(row[0], Kind(row[1]), row[2], json.loads(row[3]), row[4], bool(row[5]), row[6])

    def depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox").fetchone()[0])

    def durable_depth(self, session_id: str | None = None) -> int:
        """Durable rows waiting, of one session (or transaction) or of all."""
        if session_id is None:
            return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1 AND session_id = ?",
                                    (session_id,)).fetchone()[0])

    def session_depth(self) -> int:
        """Durable rows of any session waiting (not the other durable messages, e.g. security events)."""
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_outbox WHERE durable = 1 "
                                    "AND session_id IS NOT NULL").fetchone()[0])

    def delivered(self, row: Row, *, transaction_id: int | None = None) -> None:
        """Remove a delivered row; for an opening row also record the id the back end assigned."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE seq = ?", (row.seq,))
            if transaction_id is not None and row.session_id is not None:
                self._db.execute("UPDATE ocpp_transactions SET transaction_id = ? WHERE session_id = ?",
                                 (transaction_id, row.session_id))
            if row.kind is Kind.CLOSES and row.session_id is not None:
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
                if row.kind is Kind.OPENS and row.session_id is not None:
                    self._abandon_session(row.session_id)
                return True
            self._db.execute("UPDATE ocpp_outbox SET attempts = ? WHERE seq = ?", (attempts, row.seq))
        return False

    def _abandon_session(self, session_id: str) -> None:
        """The opening row was given up: later rows of the session could never name its transaction."""
        self._db.execute("DELETE FROM ocpp_outbox WHERE session_id = ?", (session_id,))
        self._db.execute("UPDATE ocpp_transactions SET start_dropped = 1 WHERE session_id = ?",
                         (session_id,))

    def dropped(self, row: Row) -> None:
        """Remove a row that cannot be sent at all (its session's transaction was abandoned)."""
        with self._db:
            self._db.execute("DELETE FROM ocpp_outbox WHERE seq = ?", (row.seq,))
