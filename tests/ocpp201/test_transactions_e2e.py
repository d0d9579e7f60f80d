"""2.0.1 transactions of a whole charger (fake HAL, simulated time) against the v201 test CSMS: the
TransactionEvents of a session from plug to unplug, with tokens, offline, retried and given up (E13), and
GetTransactionStatus (E14)."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import InternalError
from ocpp.v201 import call, call_result

from firmware.core.authorization import AuthResult
from firmware.ocpp.v201.adapter import Adapter201
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section


class Tokens:
    """An authorizer that accepts every token (the v201 authorization block is tested on its own)."""

    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        return AuthResult(True, source="test")


def adapter(h: Harness) -> Adapter201:
    assert isinstance(h.app.ocpp, Adapter201)
    return h.app.ocpp


def events(csms: Csms) -> list[dict[str, Any]]:
    return csms.of("TransactionEvent")


def kinds(csms: Csms) -> list[tuple[str, str]]:
    return [(e["event_type"], e["trigger_reason"]) for e in events(csms)]


def states(csms: Csms) -> list[str]:
    return [e["transaction_info"]["charging_state"] for e in events(csms)
            if "charging_state" in e["transaction_info"]]


def energy(event: dict[str, Any]) -> list[tuple[str, float, str]]:
    return [(s["context"], s["value"], s["unit_of_measure"]["unit"]) for mv in event.get("meter_value", [])
            for s in mv["sampled_value"] if s["measurand"] == "Energy.Active.Import.Register"]


async def charger(make_harness: HarnessFactory, csms: Csms, tokens: bool = False,
                  **model: Any) -> Harness:
    ocpp = section(csms.url)
    if model:
        ocpp["device_model"] = model
    # Without tokens a session starts at the plug: free charging (AuthCtrlr.Enabled false).
    h: Harness = await make_harness(ocpp=ocpp, station={"free_charging": not tokens})
    if tokens:
        h.station.set_authorizer(Tokens(), auto_start=False)
    await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
    return h


async def test_free_charging_session_from_plug_to_unplug(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        h.sim.plug()
        await eventually(lambda: "Charging" in states(csms), h.clock, 0.1, within=15)
        started = events(csms)[0]
        # E01/E02: the station's own transactionId, seqNo 0, offline always there, EVSE in the first event.
        assert started["event_type"] == "Started" and started["seq_no"] == 0 and started["offline"] is False
        assert started["trigger_reason"] == "CablePluggedIn"
        assert started["evse"] == {"id": 1, "connector_id": 1}
        assert started["transaction_info"]["charging_state"] == "EVConnected"  # E02.FR.13
        assert len(started["transaction_info"]["transaction_id"]) == 36
        assert "id_token" not in started  # free charging: no token
        assert energy(started) == [("Transaction.Begin", 0, "Wh")]
        # Then the EV waits for the offer (SuspendedEV) and charges, each an Updated (ChargingStateChanged).
        assert states(csms) == ["EVConnected", "SuspendedEV", "Charging"]
        assert {t for k, t in kinds(csms)[1:]} == {"ChargingStateChanged"}

        await eventually(lambda: ("Updated", "MeterValuePeriodic") in kinds(csms), h.clock, 1.0, within=15)
        periodic = next(e for e in events(csms) if e["trigger_reason"] == "MeterValuePeriodic")
        measurands = {s["measurand"] for s in periodic["meter_value"][0]["sampled_value"]}
        assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import"}  # TxUpdatedMeasurands
        assert all(s["context"] == "Sample.Periodic" for s in periodic["meter_value"][0]["sampled_value"])

        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        ended = events(csms)[-1]
        assert ended["trigger_reason"] == "EVCommunicationLost"
        assert ended["transaction_info"]["stopped_reason"] == "EVDisconnected"
        assert ended["transaction_info"]["charging_state"] == "Idle"
        begin, end = energy(ended)
        assert begin[0] == "Transaction.Begin" and end[0] == "Transaction.End" and end[1] > 0
        ids = {e["transaction_info"]["transaction_id"] for e in events(csms)}
        assert len(ids) == 1
        assert [e["seq_no"] for e in events(csms)] == list(range(len(events(csms))))


async def test_token_starts_and_stops_with_its_id_token(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tokens=True)
        h.sim.plug()
        await h.advance(1)
        assert events(csms) == []  # PowerPathClosed: the plug alone starts nothing
        h.sim.swipe("CARD-1")
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        started = events(csms)[0]
        assert started["trigger_reason"] == "Authorized"
        assert started["id_token"] == {"id_token": "CARD-1", "type": "ISO14443"}
        await eventually(lambda: ("Updated", "ChargingStateChanged") in kinds(csms), h.clock, 0.1, within=15)
        assert all("id_token" not in e for e in events(csms)[1:])  # sent once (E03.FR.01)

        h.sim.swipe("CARD-1")
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5, within=15)
        ended = events(csms)[-1]
        assert ended["trigger_reason"] == "StopAuthorized"
        assert ended["transaction_info"]["stopped_reason"] == "Local"
        assert ended["id_token"]["id_token"] == "CARD-1"
        assert ended["transaction_info"]["charging_state"] == "EVConnected"  # still plugged


async def test_cable_first_transaction_with_ev_connected_start_point(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tokens=True, **{"TxCtrlr.TxStartPoint": "EVConnected",
                                                             "TxCtrlr.TxStopPoint": "EVConnected"})
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        assert kinds(csms)[0] == ("Started", "CablePluggedIn") and "id_token" not in events(csms)[0]
        h.sim.swipe("CARD-2")
        await eventually(lambda: ("Updated", "Authorized") in kinds(csms), h.clock, 0.1, within=15)
        authorized = next(e for e in events(csms) if e["trigger_reason"] == "Authorized")
        assert authorized["id_token"]["id_token"] == "CARD-2"
        h.sim.swipe("CARD-2")  # ends the authorization; the transaction lasts until the EV leaves
        await eventually(lambda: ("Updated", "StopAuthorized") in kinds(csms), h.clock, 0.5, within=15)
        assert events(csms)[-1]["event_type"] == "Updated"
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        assert events(csms)[-1]["trigger_reason"] == "EVCommunicationLost"
        assert events(csms)[-1]["transaction_info"]["stopped_reason"] == "EVDisconnected"
        assert len({e["transaction_info"]["transaction_id"] for e in events(csms)}) == 1


async def test_offline_session_is_delivered_in_order_marked_offline(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        await adapter(h).link.disable()
        h.sim.plug()
        await h.advance(70)
        h.sim.unplug()
        await h.advance(5)
        assert events(csms) == []
        adapter(h).link.enable()
        await eventually(lambda: events(csms) and events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5,
                         within=20)
        assert all(e["offline"] is True for e in events(csms))  # E04.FR.03 / E12.FR.02
        assert [e["seq_no"] for e in events(csms)] == list(range(len(events(csms))))
        assert kinds(csms)[0] == ("Started", "CablePluggedIn")
        assert ("Updated", "MeterValuePeriodic") in kinds(csms)


async def test_refused_event_is_retried_then_given_up(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        refused: list[int] = []

        def refuse(payload: dict[str, Any]) -> Any:
            if payload["seq_no"] == 0:
                refused.append(1)
                raise InternalError(description="not now")
            return call_result.TransactionEvent()

        csms.answers["TransactionEvent"] = refuse
        retry: dict[str, Any] = {"OCPPCommCtrlr.MessageAttempts[TransactionEvent]": 3,
                 "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]": 10}
        h = await charger(make_harness, csms, **retry)
        h.sim.plug()
        await eventually(lambda: len(refused) == 1, h.clock, 0.1, within=15)
        await h.advance(9)
        assert len(refused) == 1  # E13.FR.03: interval x attempts so far: 10 s, then 20 s
        await eventually(lambda: len(refused) == 2, h.clock, 0.5, within=15)
        await h.advance(15)
        assert len(refused) == 2
        await eventually(lambda: len(refused) == 3, h.clock, 0.5, within=15)
        # E13.FR.04: after the last attempt the message is discarded and delivery goes on.
        await eventually(lambda: any(e["seq_no"] == 1 for e in events(csms)), h.clock, 0.5, within=15)
        await h.advance(60)
        assert len(refused) == 3


async def test_get_transaction_status(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        assert csms.peer is not None
        unknown = await csms.peer.call(call.GetTransactionStatus(transaction_id="nope"), suppress=False)
        assert (unknown.ongoing_indicator, unknown.messages_in_queue) == (False, False)  # E14.FR.01
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        tx_id = events(csms)[0]["transaction_info"]["transaction_id"]
        await eventually(lambda: adapter(h).outbox.durable_depth() == 0, h.clock, 0.1, within=15)
        running = await csms.peer.call(call.GetTransactionStatus(transaction_id=tx_id), suppress=False)
        assert (running.ongoing_indicator, running.messages_in_queue) == (True, False)  # E14.FR.02/05
        anything = await csms.peer.call(call.GetTransactionStatus(), suppress=False)
        assert anything.ongoing_indicator is None and anything.messages_in_queue is False  # E14.FR.06/08
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        ended = await csms.peer.call(call.GetTransactionStatus(transaction_id=tx_id), suppress=False)
        assert ended.ongoing_indicator is False  # E14.FR.03
