"""A flooding CSMS: requests over the per-action rate limit get a CALLERROR; triggers never pile up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from firmware.ocpp.common import ocpp_internals
from tests.ocpp.conftest import Harness, eventually

TRIGGER_HEARTBEAT = '[2,"{uid}","TriggerMessage",{{"requestedMessage":"Heartbeat"}}]'


def answer(harness: Harness, uid: str) -> list[Any]:
    found = harness.csms.answers(uid)
    assert len(found) == 1, (uid, found)
    return found[0]


async def test_requests_over_the_rate_limit_are_refused_with_a_callerror(harness: Harness) -> None:
    harness.ocpp_overrides["rate_limit"] = {"requests_per_s": 1, "burst": 3}
    await harness.start()
    for i in range(8):
        await harness.csms.send_raw(TRIGGER_HEARTBEAT.format(uid=f"t{i}"))
    await harness.csms.send_raw('[2,"g1","GetConfiguration",{"key":["HeartbeatInterval"]}]')
    await eventually(lambda: all(harness.csms.answers(u) for u in [*(f"t{i}" for i in range(8)), "g1"]))
    answers = [answer(harness, f"t{i}") for i in range(8)]
    assert [a[0] for a in answers] == [3, 3, 3, 4, 4, 4, 4, 4]  # the burst, then refused at once
    assert all(a[2] == {"status": "Accepted"} for a in answers[:3])
    assert {a[2] for a in answers[3:]} == {"GenericError"}
    assert "rate limit" in answers[3][3]
    assert answer(harness, "g1")[0] == 3  # another action has its own allowance
    await harness.clock.advance(1.0)  # one more request per (simulated) second
    await harness.csms.send_raw(TRIGGER_HEARTBEAT.format(uid="t8"))
    await harness.csms.send_raw(TRIGGER_HEARTBEAT.format(uid="t9"))
    await eventually(lambda: bool(harness.csms.answers("t8") and harness.csms.answers("t9")))
    assert (answer(harness, "t8")[0], answer(harness, "t9")[0]) == (3, 4)


async def test_unknown_actions_share_one_allowance(harness: Harness) -> None:
    harness.ocpp_overrides["rate_limit"] = {"requests_per_s": 1, "burst": 2}
    await harness.start()
    for i, action in enumerate(["Foo1", "Foo2", "Foo3"]):
        await harness.csms.send_raw(json.dumps([2, f"u{i}", action, {}]))
    await eventually(lambda: all(harness.csms.answers(f"u{i}") for i in range(3)))
    codes = [answer(harness, f"u{i}")[2] for i in range(3)]
    assert codes == ["NotImplemented", "NotImplemented", "GenericError"]


async def test_heartbeats_triggered_while_one_is_on_its_way_are_covered_by_one_more(harness: Harness) -> None:
    await harness.start()
    assert harness.csms.cp is not None
    release = asyncio.Event()
    route = harness.csms.cp.route_map["Heartbeat"]
    plain = ocpp_internals.on_handler(route)
    assert plain is not None

    async def slow_heartbeat(**kwargs: Any) -> Any:
        await release.wait()  # the CSMS takes its time with the first triggered Heartbeat
        return plain(**kwargs)

    harness.csms.cp.route_map["Heartbeat"] = ocpp_internals.with_on_handler(route, slow_heartbeat)
    before = len(harness.csms.calls("Heartbeat"))
    await harness.csms.send_raw(TRIGGER_HEARTBEAT.format(uid="first"))
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == before + 1)
    for i in range(30):  # a flood while that Heartbeat waits for its answer
        await harness.csms.send_raw(TRIGGER_HEARTBEAT.format(uid=f"f{i}"))
    await asyncio.sleep(0.2)
    release.set()
    await eventually(lambda: all(harness.csms.answers(f"f{i}") for i in range(30)))
    assert all(answer(harness, f"f{i}")[2] == {"status": "Accepted"} for i in range(30))
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) == before + 2)
    await harness.clock.advance(5.0)
    await asyncio.sleep(0.2)
    assert len(harness.csms.calls("Heartbeat")) == before + 2  # one more, sent after every trigger
    frames = harness.csms.frames  # in the order the charger sent them
    last_trigger_answered = max(i for i, f in enumerate(frames) if f[0] == 3 and f[1] == "f29")
    last_heartbeat = max(i for i, f in enumerate(frames) if f[0] == 2 and f[2] == "Heartbeat")
    assert last_heartbeat > last_trigger_answered
