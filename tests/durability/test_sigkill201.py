"""SIGKILL durability in OCPP 2.0.1: the real controller process (`chargepi run`, fake HAL, `[ocpp] version =
"2.0.1"`) is killed at random points, across sessions, online and offline, against the development CSMS in
its own process recording every frame (the harness of test_sigkill.py, with the 2.0.1 configuration).

What must hold at the end, after one last clean run of each charger that drains its queue:
- every TransactionEvent that was ever committed to a controller's queue reached the CSMS (the test reads
  the queue, read-only, right before each kill);
- per transaction: seqNo runs 0, 1, 2, ... without a gap, Started is seqNo 0, exactly one Ended, which is the
  last event; meter values never go back within a transaction;
- the only repeated events are retransmissions of the same event (same transactionId and seqNo, same
  content); no seqNo of a transaction carries two different contents.
The figures are printed; docs/durability.md quotes them.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tests.durability.test_sigkill import ENERGY, SEED, Charger, Csms, kill_all, kill_rig, totals_of

KILLS_EACH = 20

pytestmark = pytest.mark.slow


@pytest.fixture
def rig201() -> Iterator[tuple[Csms, list[Charger]]]:
    with kill_rig("cpk2", "2.0.1") as parts:
        yield parts


def test_sigkill_at_random_points_loses_no_transaction_event(rig201: tuple[Csms, list[Charger]]) -> None:
    csms, chargers = rig201
    entries, elapsed = kill_all(csms, chargers, KILLS_EACH, SEED + 201)
    per_charger = [_check([e for e in entries if e["cp"] == c.name], c) for c in chargers]
    totals = totals_of(per_charger, chargers, elapsed)
    print("\nSIGKILL durability figures (OCPP 2.0.1):", json.dumps(totals))
    # The scenario really exercised transactions (floors far below a typical run).
    assert totals["kills"] >= 35 and totals["transactions"] >= 2 and totals["updated"] >= 5
    assert totals["lost"] == 0 and totals["duplicated"] == 0


def _energy(payload: dict[str, Any]) -> list[float]:
    return [float(sv["value"]) for mv in payload.get("meterValue", []) for sv in mv["sampledValue"]
            if sv.get("measurand", ENERGY) == ENERGY and sv.get("context") != "Sample.Clock"]


def _check(entries: list[dict[str, Any]], charger: Charger) -> dict[str, int]:
    events = [e["frame"][3] for e in entries
              if e["direction"] == "in" and e["frame"][0] == 2 and e["frame"][2] == "TransactionEvent"]
    # (transactionId, seqNo) -> every content received under it (a retransmission repeats the same one).
    contents: dict[tuple[str, int], set[str]] = defaultdict(set)
    by_tx: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for payload in events:
        key = (payload["transactionInfo"]["transactionId"], int(payload["seqNo"]))
        contents[key].add(json.dumps(payload, sort_keys=True))
        by_tx[key[0]][key[1]] = payload
    committed = {(p["transaction_info"]["transaction_id"], int(p["seq_no"]))
                 for action, p in charger.committed_rows.values() if action == "TransactionEvent"}
    lost = sorted(committed - set(contents))
    gaps, bad_ends, back = [], [], []
    for tx, seqs in by_tx.items():
        if sorted(seqs) != list(range(len(seqs))) or seqs[0]["eventType"] != "Started":
            gaps.append(tx)
        ended = [n for n, p in seqs.items() if p["eventType"] == "Ended"]
        if ended != [max(seqs)]:
            bad_ends.append(tx)
        # The meter register in event order (the Ended event repeats the whole transaction's samples,
        # TxEndedMeasurands, so it is checked on its own).
        running = [v for n in sorted(seqs) if seqs[n]["eventType"] != "Ended" for v in _energy(seqs[n])]
        for readings in (running, *(_energy(seqs[n]) for n in ended)):
            if any(b < a - 1 for a, b in itertools.pairwise(readings)):
                back.append((tx, readings))
    duplicated = sum(len(c) - 1 for c in contents.values())
    assert (lost, gaps, bad_ends, back) == ([], [], [], [])
    return {
        "sessions": len(charger.sessions),
        "transactions": len(by_tx),
        "events": len(events),
        "updated": sum(1 for p in events if p["eventType"] == "Updated"),
        "committed_events_checked": len(committed),
        "lost": len(lost) + len(gaps) + len(bad_ends),
        "duplicated": duplicated,
        "retransmissions": len(events) - len(contents),
    }
