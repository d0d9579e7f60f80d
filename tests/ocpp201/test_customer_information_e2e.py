"""CustomerInformation (N09, N10) on a whole 2.0.1 charger against the v201 test CSMS: the report of what the
station keeps about an idToken (cache and local-list entries, its transactions) in NotifyCustomerInformation
parts, clearing it, and the Rejected / Invalid answers."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from firmware.ocpp.v201.customer_information import PART_CHARS, parts
from tests.conftest import Harness
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_authorization_e2e import station
from tests.ocpp201.test_transactions_e2e import events

CARD = {"id_token": "CARD-7", "type": "ISO14443"}


async def ask(csms: Csms, request_id: int, *, report: bool, clear: bool, **who: Any) -> str:
    assert csms.peer is not None
    answer = await csms.peer.call(call.CustomerInformation(request_id=request_id, report=report, clear=clear,
                                                           **who), suppress=False)
    return str(answer.status)


async def report_of(csms: Csms, h: Harness, request_id: int) -> str:
    def notified() -> list[dict[str, Any]]:
        return [p for p in csms.of("NotifyCustomerInformation") if p["request_id"] == request_id]

    await eventually(lambda: notified() and not notified()[-1].get("tbc", False), h.clock, 0.1, within=15)
    got = notified()
    assert [p["seq_no"] for p in got] == list(range(len(got)))
    return "".join(p["data"] for p in got)


async def test_report_and_clear_what_the_station_keeps_about_a_token(make_harness: Any) -> None:
    async with running_csms() as csms:
        h, _ = await station(make_harness, csms)
        h.sim.plug()
        h.sim.swipe("CARD-7")  # Authorize Accepted: cached (C10)
        await eventually(lambda: any(e["event_type"] == "Started" for e in events(csms)), h.clock, 0.1,
                         within=15)
        tx = events(csms)[0]["transaction_info"]["transaction_id"]
        h.sim.swipe("CARD-7")
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5, within=15)

        assert await ask(csms, 1, report=True, clear=False, id_token=CARD) == "Accepted"
        text = await report_of(csms, h, 1)
        assert "authorization cache: Accepted" in text
        assert f"transaction {tx} on EVSE 1: ended" in text

        assert await ask(csms, 2, report=True, clear=True, id_token=CARD) == "Accepted"
        assert await report_of(csms, h, 2) == text  # what there was, before it went
        assert await ask(csms, 3, report=True, clear=False, id_token=CARD) == "Accepted"
        assert "no data stored" in await report_of(csms, h, 3)

        assert await ask(csms, 4, report=False, clear=True, id_token=CARD) == "Accepted"
        await h.advance(2)
        assert [p for p in csms.of("NotifyCustomerInformation") if p["request_id"] == 4] == []
        assert await ask(csms, 5, report=True, clear=False, customer_identifier="C-99") == "Accepted"
        assert await report_of(csms, h, 5) == "customerIdentifier C-99: no data stored"


async def test_requests_without_flags_or_customer_are_refused(make_harness: Any) -> None:
    async with running_csms() as csms:
        h, _ = await station(make_harness, csms)
        assert await ask(csms, 1, report=False, clear=False, id_token=CARD) == "Rejected"
        assert await ask(csms, 2, report=True, clear=False) == "Invalid"
        await h.advance(2)
        assert csms.of("NotifyCustomerInformation") == []


def test_a_long_report_is_split_into_parts_of_the_schema_size() -> None:
    text = "x" * (2 * PART_CHARS + 7)
    pieces = parts(text)
    assert [len(p) for p in pieces] == [PART_CHARS, PART_CHARS, 7] and "".join(pieces) == text
    assert parts("") == [""]
