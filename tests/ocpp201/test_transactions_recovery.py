"""2.0.1 transactions across a power cut (the process dies without any shutdown, the next one starts on the
same state directory), a CSMS that refuses the idToken (E05), and an authorization that waits in vain for
the EV (TxStartPoint Authorized)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ocpp.v201 import call_result

from firmware.ocpp.common.timefmt import parse_ocpp_time
from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_authorization_e2e import set_variable
from tests.ocpp201.test_transactions_e2e import adapter, charger, events, kinds


async def kill(h: Harness) -> None:
    """The process dies: the 2.0.1 adapter's tasks and connection end without any shutdown or flush; the
    abandoned Application stays inert (its simulated clock is never advanced again)."""
    runtime = adapter(h)
    tx = runtime.transactions
    if tx._unsubscribe is not None:
        tx._unsubscribe()
        tx._unsubscribe = None
    tasks = [*tx._samplers.values(), *([runtime._link_task] if runtime._link_task else [])]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    tx._samplers.clear()
    runtime._link_task = None


async def restarted(make_harness: HarnessFactory, h: Harness, state_dir: Path, url: str,
                    **station: Any) -> Harness:
    await kill(h)
    again: Harness = await make_harness(state_dir=state_dir, clock=SimClock(h.clock.now()),
                                        ocpp=section(url), station={"free_charging": True, **station})
    return again


async def test_power_cut_ends_the_transaction_with_power_loss(make_harness: HarnessFactory,
                                                              short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await make_harness(state_dir=short_dir, ocpp=section(csms.url), station={"free_charging": True})
        h.sim.plug()
        await eventually(lambda: ("Updated", "MeterValuePeriodic") in kinds(csms), h.clock, 1.0, within=15)
        tx_id = events(csms)[0]["transaction_info"]["transaction_id"]
        await adapter(h).link.disable()  # the last events before the cut wait in the outbox
        await h.advance(61)
        before = len(events(csms))
        h2 = await restarted(make_harness, h, short_dir, csms.url)
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h2.clock, 0.2, within=15)
        mine = [e for e in events(csms) if e["transaction_info"]["transaction_id"] == tx_id]
        assert len(mine) > before  # the queued periodic event survived the cut
        assert [e["seq_no"] for e in mine] == list(range(len(mine)))  # nothing lost, nothing twice
        ended = mine[-1]
        assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == (
            "AbnormalCondition", "PowerLoss")
        assert ended["meter_value"][-1]["sampled_value"][0]["context"] == "Transaction.End"


async def test_resumed_session_continues_its_transaction(make_harness: HarnessFactory,
                                                         short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await make_harness(state_dir=short_dir, ocpp=section(csms.url),
                               station={"power_loss_policy": "resume", "free_charging": True})
        h.sim.plug()
        await eventually(lambda: "Charging" in [e["transaction_info"].get("charging_state")
                                                for e in events(csms)], h.clock, 0.1, within=15)
        tx_id = events(csms)[0]["transaction_info"]["transaction_id"]
        h2 = await restarted(make_harness, h, short_dir, csms.url, power_loss_policy="resume")
        await eventually(lambda: ("Updated", "MeterValuePeriodic") in kinds(csms), h2.clock, 1.0, within=15)
        assert {e["transaction_info"]["transaction_id"] for e in events(csms)} == {tx_id}
        assert [e["event_type"] for e in events(csms)].count("Ended") == 0
        assert [e["seq_no"] for e in events(csms)] == list(range(len(events(csms))))


async def test_refused_id_token_deauthorizes(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(
            id_token_info={"status": "Invalid"} if p.get("id_token") else None)
        h = await charger(make_harness, csms, tokens=True)
        h.sim.plug()
        h.sim.swipe("STOLEN")
        await eventually(lambda: events(csms) and events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5,
                         within=15)
        ended = events(csms)[-1]
        assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == (
            "Deauthorized", "DeAuthorized")
        assert h.station.session_of(1) is None


async def test_refused_id_token_suspends_without_stop_tx_on_invalid_id(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(
            id_token_info={"status": "Blocked"} if p.get("id_token") else None)
        h = await charger(make_harness, csms, tokens=True, **{"TxCtrlr.StopTxOnInvalidId": False})
        h.sim.plug()
        h.sim.swipe("BLOCKED")
        await eventually(lambda: "SuspendedEVSE" in [e["transaction_info"].get("charging_state")
                                                     for e in events(csms)], h.clock, 0.5, within=15)
        assert h.station.session_of(1) is not None
        assert h.station.snapshot()["connectors"][0]["contactor"]["closed"] is False


async def test_authorization_first_times_out_without_ev(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tokens=True, **{"TxCtrlr.TxStartPoint": "Authorized",
                                                             "TxCtrlr.TxStopPoint": "Authorized"})
        h.sim.swipe("EARLY")
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        started = events(csms)[0]
        assert (started["trigger_reason"], started["id_token"]["id_token"]) == ("Authorized", "EARLY")
        assert started["transaction_info"]["charging_state"] == "Idle"  # no EV yet
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 5.0, within=15)
        ended = events(csms)[-1]
        assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == (
            "EVConnectTimeout", "Timeout")


async def test_ev_connection_timeout_is_the_device_models(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tokens=True, **{"TxCtrlr.TxStartPoint": "Authorized",
                                                             "TxCtrlr.TxStopPoint": "Authorized",
                                                             "TxCtrlr.EVConnectionTimeOut": 20})

        async def waited_for_the_ev() -> float:
            before = len(events(csms))
            h.sim.swipe("EARLY")
            await eventually(lambda: len(events(csms)) >= before + 2 and events(csms)[-1]["event_type"]
                             == "Ended", h.clock, 1.0, within=15)
            started, ended = (parse_ocpp_time(e["timestamp"]) for e in events(csms)[-2:])
            assert started is not None and ended is not None
            return (ended - started).total_seconds()

        assert 20 <= await waited_for_the_ev() < 22  # the preset, not the station's 60 s default
        assert await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "40") == "Accepted"
        assert 40 <= await waited_for_the_ev() < 42  # a SetVariables change applies to the next one
