"""2.0.1 reservations of a whole charger (fake HAL, simulated time, the 2.0.1 authorizer) against the v201
test CSMS: ReserveNow (H01) for an EVSE and for any EVSE, kept for its token only and used by it (the
reservationId in the TransactionEvent), its rejections, CancelReservation (H02), and ReservationStatusUpdate
Expired / Removed (H04, H01.FR.16), also while an EV waits; reservations kept across a restart
(B01.FR.13)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ocpp.v201 import call, call_result

from firmware.ocpp.common.timefmt import rfc3339
from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_remote_e2e import events, request, start, station, status_of

TOKEN = {"id_token": "CARD-R", "type": "ISO14443"}


async def reserve(csms: Csms, h: Harness, rid: int, evse_id: int | None = 1, seconds: float = 600,
                  token: dict[str, str] = TOKEN, **extra: Any) -> Any:
    expiry = rfc3339(h.clock.now() + timedelta(seconds=seconds))
    return await request(csms, call.ReserveNow(id=rid, expiry_date_time=expiry, id_token=token,
                                               evse_id=evse_id, **extra))


def updates(csms: Csms) -> list[tuple[int, str]]:
    return [(u["reservation_id"], u["reservation_update_status"]) for u in csms.of("ReservationStatusUpdate")]


async def test_a_reservation_admits_its_token_only_and_is_used(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        assert (await reserve(csms, h, 3)).status == "Accepted"
        await eventually(lambda: status_of(csms, 1) == "Reserved", h.clock, 0.1)  # H01.FR.23
        h.sim.swipe("SOMEONE-ELSE")
        await h.advance(2)
        assert h.station.session_of(1) is None and events(csms) == []
        h.sim.swipe("CARD-R")
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        await eventually(lambda: any("reservation_id" in e for e in events(csms)), h.clock, 0.1)
        used = next(e for e in events(csms) if "reservation_id" in e)
        assert used["reservation_id"] == 3 and used["id_token"] == TOKEN  # H01.FR.15
        await h.advance(700)
        assert updates(csms) == []  # used, so it neither expires nor is removed


async def test_a_reservation_for_any_evse_keeps_one_free_for_its_token(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2)
        assert (await reserve(csms, h, 9, evse_id=None)).status == "Accepted"
        await eventually(lambda: (status_of(csms, 1), status_of(csms, 2)) == ("Reserved", "Available"),
                         h.clock, 0.1)
        # Another driver takes the reserved EVSE: the reservation moves to the free one (H01.FR.07).
        h.sim_connector(1).plug()
        h.sim_connector(1).swipe("SOMEONE-ELSE")
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        await eventually(lambda: status_of(csms, 2) == "Reserved", h.clock, 0.1)
        # Now the last free EVSE is held: a second stranger cannot take it.
        h.sim_connector(2).swipe("STRANGER")
        await h.advance(2)
        assert h.station.session_of(2) is None
        h.sim_connector(2).swipe("CARD-R")
        h.sim_connector(2).plug()
        await eventually(lambda: any(e.get("reservation_id") == 9 for e in events(csms)), h.clock, 0.1,
                         within=15)
        used = next(e for e in events(csms) if e.get("reservation_id") == 9)
        assert used["evse"]["id"] == 2 and used["id_token"] == TOKEN
        assert updates(csms) == []


async def test_expired_removed_and_cancelled(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2)
        assert (await reserve(csms, h, 1, seconds=60)).status == "Accepted"
        assert (await reserve(csms, h, 2, evse_id=2)).status == "Accepted"
        await eventually(lambda: status_of(csms, 2) == "Reserved", h.clock, 0.1)
        await h.advance(61)
        await eventually(lambda: updates(csms) == [(1, "Expired")], h.clock, 0.5)  # H04.FR.01
        assert status_of(csms, 1) == "Available"
        h.sim_connector(2).inject("rcd")
        await eventually(lambda: updates(csms) == [(1, "Expired"), (2, "Removed")], h.clock, 0.5)  # H01.FR.16
        assert (await request(csms, call.CancelReservation(reservation_id=2))).status == "Rejected"
        assert (await reserve(csms, h, 4)).status == "Accepted"
        assert (await request(csms, call.CancelReservation(reservation_id=4))).status == "Accepted"  # H02
        await eventually(lambda: status_of(csms, 1) == "Available", h.clock, 0.1)
        assert updates(csms) == [(1, "Expired"), (2, "Removed")]


async def test_reserve_now_answers(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2)
        unknown = await reserve(csms, h, 1, evse_id=3)
        assert (unknown.status, unknown.status_info["reason_code"]) == ("Rejected", "UnknownEvse")
        assert (await reserve(csms, h, 1, seconds=-5)).status == "Rejected"
        assert (await reserve(csms, h, 1, connector_type="cCCS2")).status == "Rejected"
        assert (await reserve(csms, h, 1, connector_type="sType2")).status == "Accepted"
        # H01.FR.02: the same id again replaces it (here: on the other EVSE).
        assert (await reserve(csms, h, 1, evse_id=2)).status == "Accepted"
        await eventually(lambda: (status_of(csms, 1), status_of(csms, 2)) == ("Available", "Reserved"),
                         h.clock, 0.1)
        # H01.FR.04/18: no evseId, a free EVSE; then none is free: Occupied (H01.FR.11).
        assert (await reserve(csms, h, 5, evse_id=None)).status == "Accepted"
        assert (await reserve(csms, h, 6, evse_id=None)).status == "Occupied"
        h.sim_connector(1).inject("rcd")
        await eventually(lambda: status_of(csms, 1) == "Faulted", h.clock, 0.1)
        assert (await reserve(csms, h, 7, evse_id=1)).status == "Faulted"  # H01.FR.12
        assert csms.peer is not None
        await csms.peer.call(call.SetVariables(set_variable_data=[{
            "component": {"name": "ReservationCtrlr"}, "variable": {"name": "Enabled"},
            "attribute_value": "false"}]), suppress=False)
        assert (await reserve(csms, h, 8, evse_id=2)).status == "Rejected"  # H01.FR.01


async def test_remote_start_on_a_reserved_evse_needs_its_token(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        assert (await reserve(csms, h, 3)).status == "Accepted"
        other = {"id_token": "APP-9", "type": "Central"}
        # F01.FR.21: reserved for another idToken and no groupIdToken.
        assert (await start(csms, 1, 1, other)).status == "Rejected"
        assert (await start(csms, 2, 1, TOKEN)).status == "Accepted"
        h.sim.plug()
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        await eventually(lambda: any("reservation_id" in e for e in events(csms)), h.clock, 0.1)
        assert events(csms)[0]["transaction_info"]["remote_start_id"] == 2


async def test_remote_start_by_the_reservations_group(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = lambda p: call_result.Authorize(
            id_token_info={"status": "Accepted", "group_id_token": {"id_token": "FLEET", "type": "Central"}})
        h = await station(make_harness, csms, model={"AuthCtrlr.AuthorizeRemoteStart": "true"})
        fleet = {"id_token": "FLEET", "type": "Central"}
        assert (await reserve(csms, h, 3, group_id_token=fleet)).status == "Accepted"
        other = {"id_token": "APP-9", "type": "Central"}
        assert (await start(csms, 1, 1, other)).status == "Rejected"  # F01.FR.22: no group
        other_group = {"id_token": "OTHERS", "type": "Central"}
        assert (await request(csms, call.RequestStartTransaction(
            id_token=other, remote_start_id=2, evse_id=1, group_id_token=other_group))).status == "Rejected"
        assert (await request(csms, call.RequestStartTransaction(
            id_token=other, remote_start_id=3, evse_id=1, group_id_token=fleet))).status == "Accepted"
        h.sim.plug()
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        await eventually(lambda: any("reservation_id" in e for e in events(csms)), h.clock, 0.1)


async def test_a_reservation_runs_out_while_an_ev_waits(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await station(make_harness, csms)
        assert (await reserve(csms, h, 8, seconds=60)).status == "Accepted"
        h.sim.plug()  # not the reserved driver's EV: the connector shows Occupied, no session starts
        await eventually(lambda: status_of(csms, 1) == "Occupied", h.clock, 0.1)
        await h.advance(61)
        await eventually(lambda: updates(csms) == [(8, "Expired")], h.clock, 0.5)  # H04.FR.01
        h.sim.swipe("SOMEONE-ELSE")  # the EVSE is free for anyone again
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)


async def test_reservations_hold_across_a_restart(make_harness: HarnessFactory, tmp_path: Path) -> None:
    clock = SimClock()
    async with running_csms() as csms:
        h = await station(make_harness, csms, connectors=2, state_dir=tmp_path, clock=clock)
        assert (await reserve(csms, h, 1, seconds=600)).status == "Accepted"
        assert (await reserve(csms, h, 2, evse_id=2, seconds=100)).status == "Accepted"
        await eventually(lambda: status_of(csms, 2) == "Reserved", h.clock, 0.1)
        await h.app.stop()
    await clock.advance(200)  # the charger is off: reservation 2 runs out meanwhile
    async with running_csms() as csms:
        again = await station(make_harness, csms, connectors=2, state_dir=tmp_path, clock=clock)
        # B01.FR.13: still Reserved after the restart, reported so after the boot; 2 ran out: Expired.
        assert (status_of(csms, 1), status_of(csms, 2)) == ("Reserved", "Available")
        await eventually(lambda: updates(csms) == [(2, "Expired")], again.clock, 0.5)
        again.sim.swipe("SOMEONE-ELSE")
        await again.advance(2)
        assert again.station.session_of(1) is None
        await again.advance(400)
        await eventually(lambda: updates(csms) == [(2, "Expired"), (1, "Expired")], again.clock, 0.5)
