"""2.0.1 remote control and availability of a whole charger (fake HAL, simulated time, the 2.0.1 authorizer)
against the v201 test CSMS: RequestStartTransaction remote-start-first and cable-first (F01/F02) with and
without AuthCtrlr.AuthorizeRemoteStart, its rejections, RequestStopTransaction (F03), UnlockConnector (F05)
and ChangeAvailability of an EVSE and of the station, scheduled during a transaction and kept across a
restart (G03/G04)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call, call_result

from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_smart_charging_e2e import duty, profile

TOKEN = {"id_token": "APP-7", "type": "Central"}


async def station(make_harness: HarnessFactory, csms: Csms, connectors: int = 1,
                  state_dir: Path | None = None, lock: bool = True,
                  model: dict[str, str] | None = None, clock: SimClock | None = None) -> Harness:
    ocpp = section(csms.url)
    if model:
        ocpp["device_model"] = model
    hal: dict[str, Any] = {} if lock else {"hal": {"lock": None}, "cable": "tethered"}
    evses = [{"id": i, **hal} for i in range(1, connectors + 1)]
    h: Harness = await make_harness(ocpp=ocpp, station={"free_charging": False}, state_dir=state_dir,
                                    clock=clock, connectors=evses)
    await eventually(lambda: len(csms.statuses) >= connectors, h.clock, 0.1, within=15)
    return h


async def request(csms: Csms, message: Any) -> Any:
    assert csms.peer is not None
    return await csms.peer.call(message, suppress=False)


async def start(csms: Csms, remote_start_id: int, evse_id: int | None = None,
                token: dict[str, str] = TOKEN, charging_profile: dict[str, Any] | None = None) -> Any:
    return await request(csms, call.RequestStartTransaction(
        id_token=token, remote_start_id=remote_start_id, evse_id=evse_id, charging_profile=charging_profile))


async def unlock(csms: Csms, evse_id: int, connector_id: int = 1) -> str:
    return str((await request(csms, call.UnlockConnector(evse_id=evse_id, connector_id=connector_id))).status)


async def availability(csms: Csms, status: str, evse: dict[str, int] | None = None) -> str:
    return str((await request(csms, call.ChangeAvailability(operational_status=status, evse=evse))).status)


def events(csms: Csms) -> list[dict[str, Any]]:
    return csms.of("TransactionEvent")


def status_of(csms: Csms, evse: int) -> str | None:
    mine = [s for s in csms.statuses if s["evse_id"] == evse]
    return mine[-1]["connector_status"] if mine else None


async def test_remote_start_first_then_plug_then_remote_stop(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        # F01.FR.20: no evseId, the station picks its only EVSE.
        answer = await start(csms, 41)
        assert answer.status == "Accepted" and answer.transaction_id is None
        await h.settle()
        assert csms.of("Authorize") == []  # F01.FR.02: AuthorizeRemoteStart false, no Authorize
        assert events(csms) == []  # TxStartPoint PowerPathClosed: the EV is not there yet
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        started = events(csms)[0]
        # F02.FR.21: RemoteStart and the remoteStartId in the next event, the CSMS's idToken (F01.FR.04).
        assert started["event_type"] == "Started" and started["trigger_reason"] == "RemoteStart"
        assert started["transaction_info"]["remote_start_id"] == 41
        assert started["id_token"] == TOKEN
        assert all("remote_start_id" not in e["transaction_info"] for e in events(csms)[1:])
        tx = started["transaction_info"]["transaction_id"]
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1)
        # A second remote start on the busy EVSE: F01.FR.24.
        again = await start(csms, 42, 1, TOKEN)
        assert again.status == "Rejected"
        assert (await request(csms, call.RequestStopTransaction(transaction_id="nope"))).status == "Rejected"
        assert (await request(csms, call.RequestStopTransaction(transaction_id=tx))).status == "Accepted"
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        ended = events(csms)[-1]
        assert ended["trigger_reason"] == "RemoteStop"
        assert ended["transaction_info"]["stopped_reason"] == "Remote"


async def test_authorize_remote_start_authorizes_first(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = lambda p: call_result.Authorize(
            id_token_info={"status": "Accepted" if p["id_token"]["id_token"] == "APP-7" else "Blocked"})
        h = await station(make_harness, csms, model={"AuthCtrlr.AuthorizeRemoteStart": "true",
                                                     "TxCtrlr.TxStartPoint": "Authorized"})
        blocked = {"id_token": "STOLEN", "type": "Central"}
        answer = await start(csms, 1, 1, blocked)
        assert answer.status == "Accepted"  # F01.FR.01: answered first, authorized after
        await eventually(lambda: len(csms.of("Authorize")) == 1, h.clock, 0.1)
        await h.settle()
        assert csms.of("Authorize")[0]["id_token"] == blocked  # with the CSMS's token type
        assert events(csms) == [] and status_of(csms, 1) == "Available"
        await start(csms, 2, 1, TOKEN)
        # TxStartPoint Authorized: the transaction starts at the authorization, before the EV (F02).
        await eventually(lambda: len(events(csms)) == 1, h.clock, 0.1, within=15)
        started = events(csms)[0]
        assert started["trigger_reason"] == "RemoteStart"
        assert started["transaction_info"]["remote_start_id"] == 2
        assert len(csms.of("Authorize")) == 2


async def test_remote_start_on_a_cable_first_transaction_names_it(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, model={"TxCtrlr.TxStartPoint": "EVConnected",
                                                     "TxCtrlr.TxStopPoint": "EVConnected"})
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        tx = events(csms)[0]["transaction_info"]["transaction_id"]
        assert events(csms)[0]["trigger_reason"] == "CablePluggedIn"
        # F03.FR.02: no energy offer to stop, the stop point (EVConnected) still holds: an Updated says so.
        assert (await request(csms, call.RequestStopTransaction(transaction_id=tx))).status == "Accepted"
        await eventually(lambda: events(csms)[-1]["trigger_reason"] == "RemoteStop", h.clock, 0.1)
        assert events(csms)[-1]["event_type"] == "Updated"
        answer = await start(csms, 9, 1, TOKEN)
        assert (answer.status, answer.transaction_id) == ("Accepted", tx)  # F01.FR.13
        await eventually(lambda: "RemoteStart" in [e["trigger_reason"] for e in events(csms)], h.clock, 0.1)
        remote = next(e for e in events(csms) if e["trigger_reason"] == "RemoteStart")
        assert remote["event_type"] == "Updated"
        assert remote["transaction_info"]["remote_start_id"] == 9  # F01.FR.25
        assert remote["id_token"] == TOKEN


async def test_remote_start_rejected_on_unknown_off_or_faulted_evse(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2)
        unknown = await start(csms, 1, 3, TOKEN)
        assert unknown.status == "Rejected" and unknown.status_info["reason_code"] == "UnknownEvse"
        assert await availability(csms, "Inoperative", {"id": 2}) == "Accepted"
        rejected = await start(csms, 2, 2, TOKEN)
        assert rejected.status == "Rejected"  # F01.FR.23
        h.sim_connector(1).inject("rcd")
        await eventually(lambda: status_of(csms, 1) == "Faulted", h.clock, 0.1)
        # No evseId and every EVSE Unavailable or Faulted: nothing can take it.
        assert (await start(csms, 3)).status \
            == "Rejected"
        await h.settle()
        assert events(csms) == []


async def test_unlock_connector_answers(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        assert await unlock(csms, 2, 1) == "UnknownConnector"
        assert await unlock(csms, 1, 2) == "UnknownConnector"
        # F05.FR.06: no cable, the unlock is still tried.
        assert await unlock(csms, 1, 1) == "Unlocked"
        await start(csms, 5, 1, TOKEN)
        h.sim.plug()
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        # F05.FR.02: nothing unlocked or stopped
        assert await unlock(csms, 1) == "OngoingAuthorizedTransaction"
        await h.settle()
        assert h.station.session_of(1) is not None and h.sim.snapshot()["locked"] is True


async def test_unlock_without_a_lock_fails(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        await station(make_harness, csms, lock=False)
        answer = await request(csms, call.UnlockConnector(evse_id=1, connector_id=1))
        assert answer.status == "UnlockFailed" and answer.status_info["reason_code"] == "NoLock"


async def test_change_availability_scheduled_during_a_transaction(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        await start(csms, 5, 1, TOKEN)
        h.sim.plug()
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        assert await availability(csms, "Inoperative", {"id": 1, "connector_id": 2}) == "Rejected"
        assert await availability(csms, "Inoperative", {"id": 1}) == "Scheduled"  # G03.FR.05
        await h.settle()
        assert status_of(csms, 1) == "Occupied"
        tx = events(csms)[0]["transaction_info"]["transaction_id"]
        await request(csms, call.RequestStopTransaction(transaction_id=tx))
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        h.sim.unplug()
        await eventually(lambda: status_of(csms, 1) == "Unavailable", h.clock, 0.1, within=15)  # G03.FR.04
        # G03.FR.03: to the state it is already in → Accepted.
        assert await availability(csms, "Inoperative", {"id": 1}) == "Accepted"
        assert await availability(csms, "Operative") == "Accepted"
        await eventually(lambda: status_of(csms, 1) == "Available", h.clock, 0.1)


async def test_a_scheduled_change_survives_a_restart_during_the_transaction(make_harness: HarnessFactory,
                                                                            short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, state_dir=short_dir)
        await start(csms, 5, 1, TOKEN)
        h.sim.plug()
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        assert await availability(csms, "Inoperative", {"id": 1}) == "Scheduled"
        await h.app.stop()  # power lost before the transaction ended

        h = await station(make_harness, csms, state_dir=short_dir, clock=SimClock(h.clock.now()))
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.1, within=15)
        await eventually(lambda: status_of(csms, 1) == "Unavailable", h.clock, 0.1, within=15)
        await h.app.stop()


async def test_station_unavailable_persists_across_a_restart(make_harness: HarnessFactory,
                                                             tmp_path: Path) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2, state_dir=tmp_path)
        assert await availability(csms, "Inoperative") == "Accepted"  # G04.FR.01: no evse, the whole station
        await eventually(lambda: status_of(csms, 1) == status_of(csms, 2) == "Unavailable", h.clock, 0.1)
        await h.app.stop()
    async with running_csms() as csms:
        again = await station(make_harness, csms, connectors=2, state_dir=tmp_path)
        # G04.FR.09: still Unavailable after the restart, reported so after the boot.
        assert [status_of(csms, 1), status_of(csms, 2)] == ["Unavailable", "Unavailable"]
        assert await availability(csms, "Operative", {"id": 2}) == "Accepted"
        await eventually(lambda: status_of(csms, 2) == "Available", again.clock, 0.1)
        assert status_of(csms, 1) == "Unavailable"


async def test_remote_start_charging_profile_limits_its_transaction(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        # F01.FR.09 / K05.FR.02: only a TxProfile; F01.FR.11: without transactionId; F01.FR.26: reasonCode.
        for bad in (profile(5, 10, purpose="TxDefaultProfile"), profile(5, 10, transaction_id="x")):
            refused = await start(csms, 1, 1, charging_profile=bad)
            assert (refused.status, refused.status_info["reason_code"]) == ("Rejected", "InvalidProfile")
        await h.settle()
        assert events(csms) == [] and h.app.smart_charging.profiles == []
        # Refused, the EVSE is not left claimed: the same request with a good profile is Accepted.
        assert (await start(csms, 2, charging_profile=profile(5, 10))).status == "Accepted"
        h.sim.plug()
        await eventually(lambda: duty(h) is not None, h.clock, 0.1, within=15)
        assert duty(h) == pytest.approx(16.67, abs=0.01)  # F01.FR.10: 10 A for this transaction
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        assert events(csms)[0]["transaction_info"]["remote_start_id"] == 2
        assert [p.id for p in h.app.smart_charging.profiles] == [5]


async def test_change_availability_scheduled_for_a_transaction_without_a_session(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2,
                          model={"TxCtrlr.TxStartPoint": "EVConnected", "TxCtrlr.TxStopPoint": "EVConnected"})
        h.sim_connector(1).plug()
        h.sim_connector(2).plug()
        await eventually(lambda: len({e["transaction_info"]["transaction_id"] for e in events(csms)}) == 2,
                         h.clock, 0.1, within=15)
        # G04.FR.06: both EVSEs have a transaction (cable first, no session): Scheduled, nothing changes yet.
        assert await availability(csms, "Inoperative") == "Scheduled"
        await h.advance(5)
        assert (status_of(csms, 1), status_of(csms, 2)) == ("Occupied", "Occupied")
        h.sim_connector(1).unplug()
        await eventually(lambda: status_of(csms, 1) == "Unavailable", h.clock, 0.1, within=15)
        # EVSE 2 is authorized meanwhile and stopped again: its transaction (TxStopPoint EVConnected) outlives
        # the session, and the change waits for the transaction's end.
        assert (await start(csms, 4, 2)).status == "Accepted"
        await eventually(lambda: h.station.session_of(2) is not None, h.clock, 0.1, within=15)
        tx2 = next(e for e in events(csms) if e.get("evse", {}).get("id") == 2)["transaction_info"]
        await request(csms, call.RequestStopTransaction(transaction_id=tx2["transaction_id"]))
        await eventually(lambda: h.station.session_of(2) is None, h.clock, 0.1, within=15)
        await h.advance(5)
        assert status_of(csms, 2) == "Occupied"
        h.sim_connector(2).unplug()  # the transaction ends: now EVSE 2 too
        await eventually(lambda: status_of(csms, 2) == "Unavailable", h.clock, 0.1, within=15)
