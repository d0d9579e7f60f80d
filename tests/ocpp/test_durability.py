"""No transaction message lost or sent twice: day-long outages, hard kills, power loss, CSMS refusals."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from typing import Any

import pytest

from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.outbox import Outbox
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms, utc


def transactions(csms: TestCsms) -> dict[int, dict[str, Any]]:
    """Per transactionId: its start, meter values and stop as the CSMS received them (first copies only)."""
    starts: dict[str, int] = {}  # start unique id -> transaction id
    for direction, frame in csms.wire:
        if direction == "out" and frame[0] == 3 and "transactionId" in frame[2]:
            starts.setdefault(frame[1], frame[2]["transactionId"])
    result: dict[int, dict[str, Any]] = {}
    seen: set[str] = set()
    for frame in csms.frames:
        if frame[0] != 2 or frame[1] in seen:
            continue
        seen.add(frame[1])
        action, payload = frame[2], frame[3]
        if action == "StartTransaction":
            result[starts[frame[1]]] = {"start": payload, "meters": [], "stop": None}
        elif action == "MeterValues" and "transactionId" in payload:
            result[payload["transactionId"]]["meters"].append(payload)
        elif action == "StopTransaction":
            entry = result[payload["transactionId"]]
            assert entry["stop"] is None, "second StopTransaction for one transaction"
            entry["stop"] = payload
    return result


def assert_no_duplicates(csms: TestCsms) -> None:
    """The same message content never arrives under two different unique ids."""
    contents = Counter(
        (f[2], repr(sorted(f[3].items())))
        for f in {f[1]: f for f in csms.frames if f[0] == 2 and f[2] != "Heartbeat"}.values()
        if f[2] in ("StartTransaction", "StopTransaction", "MeterValues")
    )
    assert [c for c, n in contents.items() if n > 1] == []


async def test_day_long_outage_with_sessions_delivers_everything_in_order(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "900")
    adapter.config.change("ClockAlignedDataInterval", "3600")
    station, clock = harness.station, harness.clock
    station.meter(1)
    station.meter(2)
    await harness.control.dispatch({"command": "ocpp", "args": {"action": "disconnect"}})
    await eventually(lambda: not adapter.link.connected)
    expected_sessions = 0
    for hour in range(24):
        connector = 1 + hour % 2
        if hour % 3 == 0:
            station.start(connector, f"TAG{hour}")
            expected_sessions += 1
        for _ in range(4):
            for c in (1, 2):
                station.meter(c, add_wh=2750.0 if station.session_of(c) else 0.0)
            await clock.advance(900)
        if hour % 3 == 2:
            for c in (1, 2):
                if station.session_of(c):
                    station.stop_session(c, StopReason.EV_DISCONNECTED)
    for c in (1, 2):
        if station.session_of(c):
            station.stop_session(c, StopReason.LOCAL)
    assert adapter.status()["transaction_queue_depth"] > 100
    assert harness.csms.calls("StartTransaction") == []
    await harness.control.dispatch({"command": "ocpp", "args": {"action": "connect"}})
    await eventually(lambda: adapter.outbox.depth() == 0, clock, 0.05, within=30)
    txs = transactions(harness.csms)
    assert len(txs) == expected_sessions
    for tx in txs.values():
        assert tx["stop"] is not None
        stamps = [utc(m["meterValue"][0]["timestamp"]) for m in tx["meters"]]
        assert stamps == sorted(stamps) and len(stamps) >= 4
        assert utc(tx["start"]["timestamp"]) <= stamps[0] and stamps[-1] <= utc(tx["stop"]["timestamp"])
        energies = [float(m["meterValue"][0]["sampledValue"][0]["value"]) for m in tx["meters"]]
        assert energies == sorted(energies)
        assert tx["stop"]["meterStop"] >= tx["start"]["meterStart"]
    # Order of the whole stream as sent: by timestamp within each transaction, transactions in start order.
    start_ids = [f[3]["timestamp"] for f in harness.csms.frames if f[0] == 2 and f[2] == "StartTransaction"]
    assert start_ids == sorted(start_ids)
    assert_no_duplicates(harness.csms)
    assert harness.csms.retransmissions == []


async def test_offline_transaction_ids_are_mapped_when_start_is_confirmed(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "60")
    await adapter.link.disable()
    harness.station.meter(1)
    harness.station.start(1, "OFF")
    for _ in range(3):
        harness.station.meter(1, 100)
        await harness.clock.advance(60)
    harness.station.stop_session(1, StopReason.LOCAL, "OFF")
    harness.csms.tx_ids = iter([4242])
    adapter.link.enable()
    await eventually(lambda: adapter.outbox.depth() == 0, harness.clock, 0.05)
    assert {m["transactionId"] for m in harness.csms.calls("MeterValues") if "transactionId" in m} == {4242}
    assert harness.csms.calls("StopTransaction")[0]["transactionId"] == 4242


async def test_repeated_hard_kills_lose_and_duplicate_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1961)
    queued: list[str] = []  # every transaction MeterValues the adapter committed to its outbox
    original_push = Outbox.push

    def recording_push(self: Outbox, action: str, payload: dict[str, Any], **kw: Any) -> None:
        original_push(self, action, payload, **kw)
        if action == "MeterValues" and kw.get("durable", True):
            queued.append(json.dumps(payload, sort_keys=True))

    monkeypatch.setattr(Outbox, "push", recording_push)
    harness.build().config.change("MeterValueSampleInterval", "30")
    expected: Counter[str] = Counter()  # session id -> number of periodic samples the adapter produced
    for round_no in range(40):
        adapter = await harness.start(wait_online=False)
        station = harness.station
        if round_no % 5 == 4:
            await adapter.link.disable()  # some rounds happen offline
        steps = rng.randint(1, 12)
        for _ in range(steps):
            choice = rng.random()
            free = [c for c in station.connector_ids if station.session_of(c) is None]
            busy = [c for c in station.connector_ids if station.session_of(c) is not None]
            if choice < 0.25 and free:
                station.meter(free[0])
                station.start(free[0], f"K{round_no}")
            elif choice < 0.4 and busy:
                station.stop_session(busy[0], StopReason.LOCAL)
            else:
                for c in busy:
                    station.meter(c, add_wh=rng.uniform(10, 200))
            await harness.clock.advance(rng.choice([0.01, 5, 31, 65]))
            if rng.random() < 0.5:
                await eventually(lambda: True)
        await asyncio.sleep(rng.uniform(0, 0.004))  # land the kill anywhere, also mid-delivery
        await harness.kill()  # no shutdown, at whatever point the loop is
        # The core restarts too: sessions that were running are reported ended by power loss.
        interrupted = [(c, s) for c, s in station.sessions.items()]
        station.sessions.clear()
        harness.station = type(station)(harness.clock)
        harness.station.energy = dict(station.energy)
        adapter = harness.build()
        for c, session in interrupted:
            harness.station.power_loss_report(c, session["id"], session["id_tag"], harness.clock.now())
        harness.station.power_loss_report(1, "never-seen-before", "X", harness.clock.now())  # late duplicate
        expected.update(s["id"] for _, s in interrupted)
        await harness.kill()
    harness.build()
    await harness.start()
    await eventually(
        lambda: harness.adapter is not None and harness.adapter.outbox.depth() == 0,
        harness.clock,
        0.05,
        within=30,
    )
    txs = transactions(harness.csms)
    assert txs, "the scenario produced no transactions"
    assert all(tx["stop"] is not None for tx in txs.values())
    power_loss = [tx for tx in txs.values() if tx["stop"]["reason"] == "PowerLoss"]
    assert len(power_loss) == len(expected) + 1  # + the one reported without a known start
    received = [
        json.dumps(
            {
                "connector_id": m["connectorId"],
                "meter_value": [
                    {"timestamp": v["timestamp"], "sampled_value": v["sampledValue"]} for v in m["meterValue"]
                ],
            },
            sort_keys=True,
        )
        for tx in txs.values()
        for m in tx["meters"]
    ]
    assert sorted(received) == sorted(queued) and len(queued) > 50
    assert_no_duplicates(harness.csms)
    # Retransmissions (same unique id, after a kill between sending and recording the answer) are the
    # only repeats the CSMS ever sees, and an idempotent CSMS recognises them.
    first_copy: dict[str, list[Any]] = {}
    for frame in harness.csms.frames:
        first_copy.setdefault(frame[1], frame)
    for frame in harness.csms.retransmissions:
        assert frame[2] in ("StartTransaction", "StopTransaction", "MeterValues", "StatusNotification")
        assert first_copy[frame[1]] == frame  # a repeat is the very same message


async def test_power_loss_stop_is_sent_once(harness: Harness) -> None:
    adapter = harness.build()
    harness.station.start(1, "PL")
    sid = harness.station.sessions[1]["id"]
    await harness.kill()
    station = type(harness.station)(harness.clock)
    adapter = harness.build(station)
    station.power_loss_report(1, sid, "PL", harness.clock.now())
    station.power_loss_report(1, sid, "PL", harness.clock.now())
    await harness.start()
    await harness.settle()
    await adapter.stop()
    harness.build(type(station)(harness.clock))
    await harness.start()
    await harness.settle()
    stops = harness.csms.calls("StopTransaction")
    assert len(stops) == 1 and stops[0]["reason"] == "PowerLoss"
    assert len(harness.csms.calls("StartTransaction")) == 1


async def test_session_ended_while_not_listening_is_closed_with_power_loss(harness: Harness) -> None:
    adapter = harness.build()
    adapter.config.change("StopTxnSampledData", "Energy.Active.Import.Register")
    harness.station.meter(1)
    harness.station.start(1, "GONE")
    await harness.kill()
    harness.build(type(harness.station)(harness.clock))  # a core that never reports the session again
    await harness.start()
    await harness.settle()
    stop = harness.csms.calls("StopTransaction")[0]
    assert stop["reason"] == "PowerLoss" and stop["meterStop"] == 1000


async def test_start_transaction_retried_then_given_up(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("TransactionMessageAttempts", "3")
    adapter.config.change("TransactionMessageRetryInterval", "10")
    harness.csms.fail_start = True
    harness.station.start(1, "T")
    harness.station.stop_session(1, StopReason.LOCAL)
    await eventually(lambda: len(harness.csms.calls("StartTransaction")) == 1)
    await harness.clock.advance(9)
    await eventually(lambda: True)
    assert len(harness.csms.calls("StartTransaction")) == 1
    await eventually(lambda: len(harness.csms.calls("StartTransaction")) == 2, harness.clock, 1)
    await eventually(lambda: len(harness.csms.calls("StartTransaction")) == 3, harness.clock, 1)
    await eventually(lambda: adapter.outbox.depth() == 0, harness.clock, 1)
    assert harness.csms.calls("StopTransaction") == []  # could never name a transaction
    harness.csms.fail_start = False
    harness.station.start(2, "T2")
    await harness.settle()
    assert len(harness.csms.calls("StartTransaction")) == 4


async def test_refused_id_tag_at_start_stops_or_suspends(harness: Harness) -> None:
    adapter = await harness.start()
    harness.csms.tags["STOLEN"] = {"status": "Blocked"}
    harness.station.start(1, "STOLEN")
    await harness.settle()
    assert harness.station.session_of(1) is None
    assert harness.csms.calls("StopTransaction")[0]["reason"] == "DeAuthorized"
    adapter.config.change("StopTransactionOnInvalidId", "false")
    harness.station.start(2, "STOLEN")
    await harness.settle()
    assert harness.station.session_of(2) is not None
    assert ("authorization", 0.0, 2) in harness.station.limits


async def test_transaction_data_keeps_begin_and_newest_entries(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "10")
    adapter.config.change("StopTxnSampledData", "Energy.Active.Import.Register")
    harness.station.meter(1)
    harness.station.start(1, "LONG")
    for _ in range(250):
        harness.station.meter(1, add_wh=10)
        await harness.clock.advance(10)
    harness.station.stop_session(1, StopReason.LOCAL)
    await harness.settle()
    data = harness.csms.calls("StopTransaction")[0]["transactionData"]
    contexts = [d["sampledValue"][0]["context"] for d in data]
    assert len(data) == 200 and contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert data[-2]["sampledValue"][0]["value"] == "3500"
