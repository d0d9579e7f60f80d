"""TriggerMessage (F06) on a whole 2.0.1 charger against the v201 test CSMS: the station's own messages
(BootNotification while Pending, Heartbeat, StatusNotification per connector), the evse rules, NotImplemented
for what no block offers, and a feature offering a message of its own through the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from ocpp.v201 import call

from firmware.ocpp.v201.adapter import Adapter201
from firmware.ocpp.v201.charge_point import ChargePoint201
from firmware.ocpp.v201.trigger import EvseRef, RemoteTrigger, Trigger
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section


async def trigger(csms: Csms, message: str, **evse: int) -> Any:
    assert csms.peer is not None
    return await csms.peer.call(call.TriggerMessage(requested_message=message, evse=evse or None),
                                suppress=False)


async def test_boot_triggered_while_pending_then_rejected_once_accepted(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.boot_answers = [("Pending", 3000)]
        h = await make_harness(connectors=[{"id": 1}, {"id": 2}], ocpp=section(csms.url))
        await eventually(lambda: len(csms.boots) == 1, h.clock, 0.1, within=15)
        # B02: while Pending only what the CSMS asks for; F06: a trigger is such a request
        assert (await trigger(csms, "Heartbeat")).status == "Accepted"
        await eventually(lambda: csms.heartbeats == 1, within=15)
        assert (await trigger(csms, "StatusNotification", id=2, connector_id=1)).status == "Accepted"
        await eventually(lambda: len(csms.statuses) == 1, within=15)
        assert (csms.statuses[0]["evse_id"], csms.statuses[0]["connector_id"]) == (2, 1)

        assert (await trigger(csms, "BootNotification")).status == "Accepted"  # long before 3000 s
        await eventually(lambda: len(csms.boots) == 2, within=15)
        await eventually(lambda: len(csms.statuses) == 3, h.clock, 0.1, within=15)
        answer = await trigger(csms, "BootNotification")
        assert answer.status == "Rejected"  # F06.FR.17: already Accepted
        await h.advance(5)
        assert len(csms.boots) == 2


async def test_evse_rules_and_unimplemented_messages(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(connectors=[{"id": 1}, {"id": 2}], ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 2, h.clock, 0.1, within=15)
        h.sim.plug()
        await eventually(lambda: len(csms.statuses) == 3, h.clock, 0.1, within=15)

        answer = await trigger(csms, "StatusNotification", id=1, connector_id=1)
        assert answer.status == "Accepted"
        await eventually(lambda: len(csms.statuses) == 4, within=15)
        assert (csms.statuses[-1]["evse_id"], csms.statuses[-1]["connector_status"]) == (1, "Occupied")

        for evse, reason in (({}, "MissingParam"), ({"id": 1}, "MissingParam"),  # F06.FR.12
                             ({"id": 3, "connector_id": 1}, "UnknownEvse"),
                             ({"id": 1, "connector_id": 2}, "UnknownConnectorId")):
            answer = await trigger(csms, "StatusNotification", **evse)
            assert (answer.status, answer.status_info["reason_code"]) == ("Rejected", reason), evse

        # F06.FR.03: evse is ignored where it is not relevant
        assert (await trigger(csms, "Heartbeat", id=7)).status == "Accepted"
        await eventually(lambda: csms.heartbeats == 1, within=15)
        # F06.FR.08: what no functional block offers
        assert (await trigger(csms, "SignV2GCertificate")).status == "NotImplemented"
        await h.advance(1)
        assert len(csms.statuses) == 4


class Offers:
    """A functional block that owns one triggerable message."""

    def __init__(self, message: str, scoped: bool = True) -> None:
        self.sent: list[EvseRef | None] = []
        self.message = message
        self.scoped = scoped

    def triggers(self) -> Mapping[str, Trigger]:
        async def send(cp: ChargePoint201, evse: EvseRef | None) -> None:
            self.sent.append(evse)

        return {self.message: Trigger(send, evse_scoped=self.scoped, accepts=lambda evse: evse != EvseRef(2))}

    async def online(self, cp: ChargePoint201) -> None:
        return None


OWN = "PublishFirmwareStatusNotification"  # a message no block of chargepi offers


async def test_a_feature_offers_its_own_message(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(connectors=[{"id": 1}, {"id": 2}], ocpp=section(csms.url), start=False)
        assert isinstance(h.app.ocpp, Adapter201)
        offers = Offers(OWN)
        h.app.ocpp.features.append(offers)
        await h.app.start()
        try:
            await eventually(lambda: len(csms.statuses) == 2, h.clock, 0.1, within=15)
            assert (await trigger(csms, OWN)).status == "Accepted"  # F06.FR.11: every EVSE
            assert (await trigger(csms, OWN, id=1)).status == "Accepted"
            assert (await trigger(csms, OWN, id=2)).status == "Rejected"  # the block's refusal
            assert (await trigger(csms, OWN, id=5)).status == "Rejected"
            await eventually(lambda: len(offers.sent) == 2, within=15)
            assert offers.sent == [None, EvseRef(1)]
        finally:
            await h.app.stop()


def test_a_message_offered_twice_is_a_programming_error() -> None:
    remote = RemoteTrigger(lambda: (Offers("MeterValues"), Offers("MeterValues")), lambda: None, lambda: [1])
    with pytest.raises(ValueError, match="MeterValues is offered twice"):
        remote.offered()
