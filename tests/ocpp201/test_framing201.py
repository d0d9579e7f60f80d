"""Whatever text arrives, the 2.0.1 charge point's framing answers with at most one frame, a well-formed
CALLRESULT or a CALLERROR with a 2.0.1 error code, and never raises (hypothesis over arbitrary frames)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.ocpp.v201.charge_point import ChargePoint201
from firmware.ocpp.v201.provisioning import Provisioning
from tests.ocpp201 import dm_fixtures
from tests.ocpp201.csms201 import NOW

# OCPP-J 2.0.1 Part 4 §4.3: the twelve error codes.
CODES_2_0_1 = {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
               "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
               "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
               "TypeConstraintViolation"}


class Wire:
    """The websocket as the charge point sees it: what it sends is kept."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: int | None = None

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def close(self, code: int, reason: str) -> None:
        self.closed = code


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
ACTIONS = st.sampled_from(["ClearCache", "GetVariables", "SetVariables", "ChangeAvailability", "Reset",
                           "TriggerMessage", "GetBaseReport", "FlyToTheMoon", "ClearDisplayMessage"])
CALL_LIKE = st.tuples(st.sampled_from([2, 3, 4, 5, "2"]), st.text(max_size=40), ACTIONS,
                      st.dictionaries(st.sampled_from(["requestedMessage", "type", "getVariableData",
                                                       "operationalStatus", "customData", "requestId",
                                                       "reportBase", "evse", "x"]), JSON_VALUE, max_size=3)
                      ).map(lambda parts: json.dumps(list(parts)))
FRAMES = st.one_of(st.text(max_size=40), JSON_VALUE.map(json.dumps), CALL_LIKE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=FRAMES)
def test_any_frame_gets_at_most_one_well_formed_answer(tmp_path: Path, raw: str) -> None:
    async def run() -> list[str]:
        wire = Wire()
        cp = ChargePoint201("CP-1", wire, dm_fixtures.framing(tmp_path),
                            Provisioning(dm_fixtures.model(tmp_path, 1), lambda: NOW), "chargepi",
                            "chargepi-ac", "SN-1", "1.0", response_timeout=1)
        await cp.route_message(raw)
        return wire.sent

    sent = asyncio.run(run())
    assert len(sent) <= 1
    for message in sent:
        frame: Any = json.loads(message)
        assert isinstance(frame, list) and frame[0] in (3, 4)
        if frame[0] == 4:
            assert len(frame) == 5 and frame[2] in CODES_2_0_1 and isinstance(frame[3], str)
            assert frame[4] == {}
