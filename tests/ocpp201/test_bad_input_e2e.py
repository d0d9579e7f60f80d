"""Bad input from a 2.0.1 CSMS gets the OCPP-J 2.0.1 CALLERROR (Part 4 §4.3, docs/reference/ocpp-j-rpc.md;
the schema keyword → code table in firmware/ocpp/v201/validation.py), is written to the local security log
as InvalidMessages, and never disturbs the charger; a flood of one request is refused with GenericError
beyond the rate limit while other requests still get through."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call

from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section

LONG_NAME = "C" * 51  # component names are string[50]


async def error_for(csms: Csms, h: Harness, uid: str, raw: str) -> list[Any]:
    await csms.send_raw(raw)
    await eventually(lambda: csms.answers_to(uid) != [], h.clock, 0.1, within=15)
    answer = csms.answers_to(uid)[0]
    assert answer[0] == 4, answer
    return answer


BAD_FRAMES = [
    ("j1", '[2,"j1","ClearCache",{"customData"', "RpcFrameworkError"),  # invalid JSON, id still readable
    ("a1", '[2,"a1",42,{}]', "RpcFrameworkError"),  # Action not a string
    ("e1", '[2,"e1","ClearCache"]', "RpcFrameworkError"),  # a CALL has 4 elements
    ("e2", '[2,"e2","ClearCache",{},{}]', "RpcFrameworkError"),
    ("s1", '["2","s1","ClearCache",{}]', "RpcFrameworkError"),  # MessageTypeId a string
    ("f1", '[2.5,"f1","ClearCache",{}]', "RpcFrameworkError"),  # MessageTypeId not an integer
    ("z" * 37, '[2,"' + "z" * 37 + '","ClearCache",{}]', "RpcFrameworkError"),  # message id too long
    ("d1", '[2,"d1","DataTransfer",{"vendorId":"x","data":' + "[" * 40 + "]" * 40 + "}]",
     "RpcFrameworkError"),  # nested deeper than any OCPP message
    ("m1", '[7,"m1","ClearCache",{}]', "MessageTypeNotSupported"),  # no such MessageTypeId (§4.4)
    ("p1", '[2,"p1","ClearCache",[]]', "FormatViolation"),  # payload not an object
    ("x1", '[2,"x1","ClearCache",{"extra":1}]', "FormatViolation"),  # a field the message does not have
    ("u1", '[2,"u1","FlyToTheMoon",{}]', "NotImplemented"),  # not a 2.0.1 action
    ("n1", '[2,"n1","ClearDisplayMessage",{"id":1}]', "NotSupported"),  # 2.0.1, not offered here
    ("r1", '[2,"r1","GetVariables",{}]', "OccurrenceConstraintViolation"),  # required field missing
    ("r2", '[2,"r2","GetVariables",{"getVariableData":[]}]', "OccurrenceConstraintViolation"),  # minItems
    ("t1", '[2,"t1","ChangeAvailability",{"operationalStatus":1}]', "TypeConstraintViolation"),
    ("l1", '[2,"l1","GetVariables",{"getVariableData":[{"component":{"name":"' + LONG_NAME
     + '"},"variable":{"name":"Enabled"}}]}]', "TypeConstraintViolation"),  # string[50] too long
    ("v1", '[2,"v1","ChangeAvailability",{"operationalStatus":"Sleepy"}]', "PropertyConstraintViolation"),
    ("v2", '[2,"v2","ChangeAvailability",{"operationalStatus":"Operative","evse":{"id":1,'
     '"connectorId":"x"}}]', "TypeConstraintViolation"),
]


@pytest.mark.parametrize(("uid", "raw", "code"), BAD_FRAMES, ids=[uid[:8] for uid, _, _ in BAD_FRAMES])
async def test_bad_frame_gets_the_2_0_1_callerror(make_harness: HarnessFactory, uid: str, raw: str,
                                                  code: str) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        answer = await error_for(csms, h, uid, raw)
        assert answer[2] == code
        assert isinstance(answer[3], str) and answer[4] == {}
        # the link survives and still answers
        assert csms.peer is not None
        assert (await csms.peer.call(call.ClearCache(), suppress=False)).status in ("Accepted", "Rejected")


async def test_unreadable_ids_get_minus_one_responses_get_nothing_and_custom_data_is_accepted(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        unreadable = ("not json at all", "{}", "[]", "[true]", "[null]", '[2,5,"ClearCache",{}]',
                      "[" * 100_000)
        for raw in (*unreadable, "[3]", '[4,"nobody"]', '[3,"nobody",{}]'):
            await csms.send_raw(raw)
        await eventually(lambda: len(csms.answers_to("-1")) == len(unreadable), h.clock, 0.1, within=15)
        assert {answer[2] for answer in csms.answers_to("-1")} == {"RpcFrameworkError"}
        assert csms.answers_to("nobody") == []  # a response never gets a CALLERROR
        # customData, anywhere the schema allows it, is accepted (2.0.1 part 2 §2.1.1)
        await csms.send_raw('[2,"c1","ClearCache",{"customData":{"vendorId":"acme","shade":"blue"}}]')
        await eventually(lambda: csms.answers_to("c1") != [], h.clock, 0.1, within=15)
        assert csms.answers_to("c1")[0][0] == 3
        logged = [e for e in h.app.security_log.since(0) if e.type == "InvalidMessages"]
        assert logged and "RpcFrameworkError" in (logged[0].tech_info or "")
        await h.settle()
        assert "InvalidMessages" not in [e["type"] for e in csms.of("SecurityEventNotification")]


async def test_a_flood_is_refused_beyond_the_rate_limit_and_other_requests_get_through(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp={**section(csms.url), "rate_limit": {"burst": 5, "requests_per_s": 1}})
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        for n in range(12):
            await csms.send_raw(f'[2,"t{n}","TriggerMessage",{{"requestedMessage":"Heartbeat"}}]')
        await eventually(lambda: all(csms.answers_to(f"t{n}") for n in range(12)), h.clock, 0.1, within=15)
        kinds = [csms.answers_to(f"t{n}")[0][0] for n in range(12)]
        assert kinds[:5] == [3] * 5 and kinds[5:] == [4] * 7
        assert {csms.answers_to(f"t{n}")[0][2] for n in range(5, 12)} == {"GenericError"}
        assert csms.peer is not None
        assert (await csms.peer.call(call.ClearCache(), suppress=False)).status in ("Accepted", "Rejected")
        await h.advance(3)  # the bucket refills at 1/s
        await csms.send_raw('[2,"later","TriggerMessage",{"requestedMessage":"Heartbeat"}]')
        await eventually(lambda: csms.answers_to("later") != [], h.clock, 0.1, within=15)
        assert csms.answers_to("later")[0][0] == 3
