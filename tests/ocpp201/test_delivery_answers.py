"""Every handler that asked for a kind of answer (`Delivery201.on_answer`) sees each one, in the order the
handlers were added, and one that raises does not keep the answer from the others: the transactions' E05
idTokenInfo handler still deauthorizes while another handler reads the same TransactionEventResponses."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call_result

from firmware.ocpp.common.outbox import Row
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import running_csms
from tests.ocpp201.test_transactions_e2e import adapter, charger, events


async def test_every_answer_handler_sees_each_transaction_event_response(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(
            id_token_info={"status": "Invalid"} if p.get("id_token") else None, total_cost=p["seq_no"])
        h = await charger(make_harness, csms, tokens=True)
        seen: list[tuple[str, int, Any]] = []

        def broken(row: Row, answer: Any) -> None:
            raise RuntimeError("a handler that fails")

        def recorder(row: Row, answer: Any) -> None:
            seen.append((row.action, row.payload["seq_no"], answer.total_cost))

        delivery = adapter(h).delivery
        delivery.on_answer("TransactionEvent", broken)
        delivery.on_answer("TransactionEvent", recorder)
        h.sim.plug()
        h.sim.swipe("STOLEN")
        await eventually(lambda: events(csms) and events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5,
                         within=15)
        await eventually(lambda: len(seen) == len(events(csms)), h.clock, 0.1)
        assert h.station.session_of(1) is None  # the transactions' handler ran (E05: DeAuthorized)
        assert events(csms)[-1]["transaction_info"]["stopped_reason"] == "DeAuthorized"
        assert seen == [("TransactionEvent", n, n) for n in range(len(events(csms)))]
