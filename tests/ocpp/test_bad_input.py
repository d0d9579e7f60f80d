"""Malformed frames from the CSMS get the OCPP-J 1.6 CALLERROR and never disturb the charger."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.connection import MAX_MESSAGE_BYTES
from tests.ocpp.conftest import Harness, eventually


async def error_for(harness: Harness, uid: str, raw: str) -> list[object]:
    await harness.csms.send_raw(raw)
    await eventually(lambda: harness.csms.answers(uid) != [])
    answer = harness.csms.answers(uid)[0]
    assert answer[0] == 4, answer
    return answer


@pytest.mark.parametrize(
    ("uid", "raw", "code"),
    [
        ("j1", '[2,"j1","Reset",{"type":"Soft"', "FormationViolation"),  # invalid JSON, id still readable
        ("p1", '[2,"p1","Reset",[]]', "FormationViolation"),  # payload not an object
        ("a1", '[2,"a1",42,{}]', "FormationViolation"),  # action not a string
        ("e1", '[2,"e1","Reset"]', "ProtocolError"),  # missing payload
        ("e2", '[2,"e2","Reset",{},{}]', "ProtocolError"),  # too many elements
        ("u1", '[2,"u1","FlyToTheMoon",{}]', "NotImplemented"),  # unknown action (OCPP-J 1.6 §4.2.3)
        (
            "n1",
            '[2,"n1","GetCompositeSchedule",{"connectorId":1,"duration":60}]',
            "NotSupported",
        ),  # a known 1.6 action this charger does not support (no smart charging service here)
        ("r1", '[2,"r1","Reset",{}]', "ProtocolError"),  # required field missing
        (
            "t1",
            '[2,"t1","ChangeAvailability",{"connectorId":"one","type":"Operative"}]',
            "TypeConstraintViolation",
        ),
        (
            "v1",
            '[2,"v1","Reset",{"type":"Gentle"}]',
            "FormationViolation",
        ),  # enum violation (lib: FormatViolation)
        ("x1", '[2,"x1","Reset",{"type":"Soft","extra":1}]', "FormationViolation"),  # additionalProperties
        (
            "l1",
            '[2,"l1","ChangeConfiguration",{"key":"' + "K" * 51 + '","value":"1"}]',
            "TypeConstraintViolation",
        ),
        ("m1", '[7,"m1","Reset",{}]', "ProtocolError"),  # unknown MessageTypeId
        ("s1", '["2","s1","Reset",{"type":"Soft"}]', "ProtocolError"),  # MessageTypeId a string
        ("f1", '[2.5,"f1","Reset",{"type":"Soft"}]', "ProtocolError"),  # MessageTypeId not an integer
        ("d1", '[2,"d1","DataTransfer",{"vendorId":"x","data":' + "[" * 40 + "]" * 40 + "}]",
         "FormationViolation"),  # nested deeper than any OCPP message
        ("d2", '[2,"d2","DataTransfer",{"vendorId":"x","data":' + "[" * 100_000 + "]" * 100_000 + "}]",
         "FormationViolation"),  # deep enough to exhaust the parser's recursion
        ("z" * 37, '[2,"' + "z" * 37 + '","Heartbeat",{}]', "ProtocolError"),  # unique id too long
    ],
)
async def test_bad_frame_gets_1_6_callerror(harness: Harness, uid: str, raw: str, code: str) -> None:
    await harness.start()
    answer = await error_for(harness, uid, raw)
    assert answer[2] == code
    assert isinstance(answer[3], str) and answer[4] == {}
    assert harness.restarts == []  # nothing was acted on


async def test_garbage_without_id_gets_minus_one_and_link_survives(harness: Harness) -> None:
    adapter = await harness.start()
    harness.station.start(1, "T")
    unreadable = ("not json at all", "{}", '"text"', "[]", "[true]", "[null]", "\x00\xff", "[" * 100_000)
    for raw in (*unreadable, "[3]", '[4,"nobody"]', '[3,"nobody",{}]'):
        await harness.csms.send_raw(raw)
    # A CALLERROR with message id "-1" for each message whose id cannot be read; responses get none.
    await eventually(lambda: len(harness.csms.answers("-1")) == len(unreadable))
    codes = [answer[2] for answer in harness.csms.answers("-1")]
    assert set(codes) <= {"FormationViolation", "ProtocolError"} and codes.count("FormationViolation") == 3
    assert harness.csms.answers("nobody") == []
    answer = await harness.csms.cp.call(call.GetLocalListVersion(), suppress=False)  # type: ignore[union-attr]
    assert answer.list_version == 0
    harness.station.stop_session(1, StopReason.LOCAL)
    await harness.settle()
    assert len(harness.csms.calls("StopTransaction")) == 1 and harness.csms.connections == 1
    assert adapter.link.connected


@pytest.mark.parametrize("reply", ['[4,"UID"]', '[3,"UID"]', '[3,"UID",{"idTagInfo":', '[4,"UID",1,2,{}]'])
async def test_broken_answer_to_our_call_fails_it_without_waiting_for_timeout(
    harness: Harness, reply: str
) -> None:
    harness.ocpp_overrides["response_timeout_s"] = 60.0
    adapter = await harness.start()
    adapter.config.change("AllowOfflineTxForUnknownId", "true")
    harness.csms.broken_replies["Authorize"] = reply
    # Decided offline as soon as the broken answer arrived (well before the 60 s response timeout).
    started = await asyncio.wait_for(harness.station.present_token("CARD", 1), 10)
    assert started and harness.station.session_of(1) is not None
    assert adapter.link.connected


async def test_one_outstanding_call_at_a_time(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "10")
    for c in (1, 2):
        harness.station.meter(c, 1.0)
        harness.station.start(c, f"T{c}")
    await harness.clock.advance(60)
    harness.station.stop_session(1, StopReason.LOCAL)
    harness.station.stop_session(2, StopReason.LOCAL)
    await harness.settle()
    # Every CALL we sent was answered before the next one went out.
    pending: str | None = None
    for direction, frame in harness.csms.wire:
        if direction == "in" and frame[0] == 2:
            assert pending is None, f"{frame[1]} sent while {pending} outstanding"
            pending = frame[1]
        elif direction == "out" and frame[0] in (3, 4):
            assert frame[1] == pending
            pending = None
    assert len(harness.csms.calls("MeterValues")) >= 10


async def test_a_binary_frame_closes_the_connection_with_1003_and_the_charger_comes_back(
    harness: Harness,
) -> None:
    adapter = await harness.start()
    assert harness.csms.cp is not None
    connection = harness.csms.cp.ws
    await connection.send(b'[2,"b1","Reset",{"type":"Hard"}]')
    await eventually(lambda: connection.close_code is not None)
    assert connection.close_code == 1003
    assert harness.csms.answers("b1") == [] and harness.restarts == []  # never acted on
    await eventually(lambda: harness.csms.connections == 2 and adapter._online.is_set(), harness.clock, 0.5)


async def test_frame_size_is_capped_by_the_websocket(harness: Harness) -> None:
    adapter = await harness.start()
    assert harness.csms.cp is not None
    connection = harness.csms.cp.ws
    big = '[2,"big","DataTransfer",{"vendorId":"x","data":"' + "x" * (MAX_MESSAGE_BYTES + 1) + '"}]'
    await connection.send(big)
    await eventually(lambda: connection.close_code is not None)
    assert connection.close_code == 1009  # message too big (RFC 6455 §7.4.1)
    assert harness.csms.answers("big") == []
    await eventually(lambda: harness.csms.connections == 2 and adapter._online.is_set(), harness.clock, 0.5)
