"""The 2.0.1 transactions that must survive a restart (SQLite, in the adapter's ocpp201.sqlite3).

A transaction row holds what the next TransactionEvent needs: the station's transactionId (a UUID, unique
for the station's lifetime, docs/reference/ocpp201.md §6), the EVSE, the next seqNo (0 for Started, +1 for
every event), the chargingState last reported, the idToken last reported and the core session it follows.
Every event is queued in the common durable outbox in the same database transaction that advances the
seqNo, so a kill at any point neither loses an event nor sends two with one seqNo. The samples an Ended
event carries (TxEndedMeasurands every TxEndedInterval) are kept beside it. Finished transactions are kept
(the newest KEEP_FINISHED) so GetTransactionStatus can say that a known transaction has ended.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from firmware.ocpp.common.outbox import Outbox
from firmware.storage.database import StateDatabase

EVENT = "TransactionEvent"
KEEP_FINISHED = 1000
MAX_ENDED_SAMPLES = 200  # meterValue entries in one Ended event


@dataclass
class Tx:
    transaction_id: str
    evse_id: int
    seq_no: int = 0
    session_id: str | None = None
    charging_state: str | None = None
    id_token: str | None = None


def new_transaction_id() -> str:
    return str(uuid.uuid4())  # 36 characters: the schema's maximum (TransactionType.transactionId)


class TxStore:
    def __init__(self, db: StateDatabase, outbox: Outbox) -> None:
        self._db = db
        self._outbox = outbox
        db.executescript("""
            CREATE TABLE IF NOT EXISTS ocpp201_transactions (
                transaction_id TEXT PRIMARY KEY,
                evse_id INTEGER NOT NULL,
                seq_no INTEGER NOT NULL,
                session_id TEXT,
                charging_state TEXT,
                id_token TEXT,
                ended INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE IF NOT EXISTS ocpp201_tx_samples (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                transaction_id TEXT NOT NULL,
                meter_value TEXT NOT NULL
            );
        """)
        db.commit()

    def open_transactions(self) -> list[Tx]:
        rows = self._db.execute("SELECT transaction_id, evse_id, seq_no, session_id, charging_state, "
                                "id_token FROM ocpp201_transactions WHERE ended = 0 ORDER BY rowid")
        return [Tx(*row) for row in rows]

    def of_token(self, id_token: str) -> list[tuple[str, int, bool]]:
        """(transactionId, EVSE, ended) of every transaction this station keeps for an idToken."""
        rows = self._db.execute("SELECT transaction_id, evse_id, ended FROM ocpp201_transactions "
                                "WHERE id_token = ? ORDER BY rowid", (id_token,))
        return [(str(tx), int(evse), bool(ended)) for tx, evse, ended in rows]

    def forget_token(self, id_token: str) -> int:
        """Remove an idToken from the ended transactions kept (a running one still needs it to stop)."""
        with self._db:
            cursor = self._db.execute("UPDATE ocpp201_transactions SET id_token = NULL "
                                      "WHERE id_token = ? AND ended = 1", (id_token,))
        return cursor.rowcount

    def ongoing(self, transaction_id: str) -> bool | None:
        """True while it runs, False once it ended, None if this station never had it."""
        row = self._db.execute("SELECT ended FROM ocpp201_transactions WHERE transaction_id = ?",
                               (transaction_id,)).fetchone()
        return None if row is None else not row[0]

    def evse_of(self, transaction_id: str) -> int | None:
        """The EVSE a transaction ran or runs on (None if this station never had it)."""
        row = self._db.execute("SELECT evse_id FROM ocpp201_transactions WHERE transaction_id = ?",
                               (transaction_id,)).fetchone()
        return None if row is None else int(row[0])

    def queue(self, tx: Tx, payload: dict[str, Any], *, begin: bool = False, end: bool = False) -> None:
        """Queue one TransactionEvent of `tx` (its seqNo is tx.seq_no) and advance the seqNo, atomically."""
        with self._db:
            if begin:
                self._db.execute("INSERT INTO ocpp201_transactions (transaction_id, evse_id, seq_no) "
                                 "VALUES (?, ?, ?)", (tx.transaction_id, tx.evse_id, tx.seq_no))
            self._outbox.add(EVENT, payload, session_id=tx.transaction_id)
            self._db.execute(
                "UPDATE ocpp201_transactions SET seq_no = ?, session_id = ?, charging_state = ?, "
                "id_token = ?, ended = ? WHERE transaction_id = ?",
                (tx.seq_no + 1, tx.session_id, tx.charging_state, tx.id_token, int(end), tx.transaction_id))
            if end:
                self._db.execute("DELETE FROM ocpp201_tx_samples WHERE transaction_id = ?",
                                 (tx.transaction_id,))
                self._db.execute(
                    "DELETE FROM ocpp201_transactions WHERE ended = 1 AND rowid NOT IN "
                    "(SELECT rowid FROM ocpp201_transactions ORDER BY rowid DESC LIMIT ?)", (KEEP_FINISHED,))
        tx.seq_no += 1

    def add_sample(self, transaction_id: str, meter_value: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("INSERT INTO ocpp201_tx_samples (transaction_id, meter_value) VALUES (?, ?)",
                             (transaction_id, json.dumps(meter_value)))

    def samples(self, transaction_id: str, limit: int = MAX_ENDED_SAMPLES) -> list[dict[str, Any]]:
        """The first sample (Transaction.Begin) and the newest ones, at most `limit` in all."""
        rows = self._db.execute(
            "SELECT meter_value FROM ocpp201_tx_samples WHERE transaction_id = ? AND (seq = (SELECT MIN(seq) "
            "FROM ocpp201_tx_samples WHERE transaction_id = ?) OR seq IN (SELECT seq FROM ocpp201_tx_samples "
            "WHERE transaction_id = ? ORDER BY seq DESC LIMIT ?)) ORDER BY seq",
            (transaction_id, transaction_id, transaction_id, limit - 1))
        return [json.loads(r[0]) for r in rows]
