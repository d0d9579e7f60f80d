"""DataTransfer both ways on a whole 2.0.1 charger against the v201 test CSMS (P01, P02): vendor handlers
answer, unknown vendors and messages get their statuses, the built-in chargepi Status answers the status
document, and a vendor module's DataTransfer reaches the CSMS with its answer coming back."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call, call_result

from firmware.ocpp.v201.adapter import Adapter201
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section


async def transfer(csms: Csms, vendor_id: str, message_id: str | None = None, data: Any = None) -> Any:
    assert csms.peer is not None
    return await csms.peer.call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data),
                                suppress=False)


def adapter(h: Harness) -> Adapter201:
    assert isinstance(h.app.ocpp, Adapter201)
    return h.app.ocpp


async def test_csms_data_transfer_reaches_the_vendor_handlers(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        seen: list[Any] = []

        def echo(data: Any) -> tuple[str, Any]:
            seen.append(data)
            return "Accepted", {"echo": data}

        adapter(h).data_transfer.register("acme", "Echo", echo)
        answer = await transfer(csms, "acme", "Echo", {"n": [1, 2]})
        assert (answer.status, answer.data) == ("Accepted", {"echo": {"n": [1, 2]}})
        assert seen == [{"n": [1, 2]}]
        assert (await transfer(csms, "acme", "Nope")).status == "UnknownMessageId"
        assert (await transfer(csms, "acme")).status == "UnknownMessageId"  # no messageId: none registered
        assert (await transfer(csms, "other.vendor", "Echo")).status == "UnknownVendorId"
        status = await transfer(csms, "chargepi", "Status")
        assert status.status == "Accepted" and status.data["connectors"][0]["status"] == "Available"


@pytest.mark.parametrize(("answer", "expected"), [
    (call_result.DataTransfer(status="Accepted", data={"price": 0.3}), ("Accepted", {"price": 0.3})),
    (call_result.DataTransfer(status="UnknownVendorId"), ("UnknownVendorId", None)),
])
async def test_a_vendor_module_sends_data_transfer_to_the_csms(make_harness: HarnessFactory, answer: Any,
                                                               expected: tuple[str, Any]) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        csms.answers["DataTransfer"] = lambda payload: answer
        assert await adapter(h).data_transfer.send("acme", "Tariff", {"evse": 1}) == expected
        assert csms.of("DataTransfer") == [{"vendor_id": "acme", "message_id": "Tariff", "data": {"evse": 1}}]


async def test_data_transfer_to_the_csms_needs_the_connection(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        await adapter(h).link.disable()
        with pytest.raises(ConnectionError):
            await adapter(h).data_transfer.send("acme")
