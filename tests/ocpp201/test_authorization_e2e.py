"""2.0.1 authorization of a whole charger (fake HAL, simulated time, `sim` RFID swipes) against the v201
test CSMS: Authorize with the reader's token type (C01), accepted / blocked / unknown tokens, the cache
filled by AuthorizeResponse and TransactionEventResponse and used offline (C10, C12), ClearCache (C11),
LocalPreAuthorize, the offline rule for unknown tokens (C15), stopping by a token of the same group (C09),
and the local list (D01/D02: Full, Differential, VersionMismatch, GetLocalListVersion, size limits)."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError
from ocpp.v201 import call, call_result

from firmware.core.events import TokenDecided
from firmware.ocpp.v201.adapter import Adapter201
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_tariff_cost_e2e import DISPLAY, screen


def tokens_answer(known: dict[str, dict[str, Any]]) -> Any:
    """An AuthorizeResponse from a table of idTokenInfo per token; any other token is Unknown."""
    return lambda p: call_result.Authorize(
        id_token_info=known.get(p["id_token"]["id_token"], {"status": "Unknown"}))


async def station(make_harness: HarnessFactory, csms: Csms, **model: Any) -> tuple[Harness, Adapter201]:
    ocpp = section(csms.url)
    if model:
        ocpp["device_model"] = model
    h: Harness = await make_harness(ocpp=ocpp, station={"free_charging": False})
    await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
    assert isinstance(h.app.ocpp, Adapter201)
    return h, h.app.ocpp


async def set_variable(csms: Csms, component: str, variable: str, value: str) -> str:
    assert csms.peer is not None
    answer = await csms.peer.call(call.SetVariables(set_variable_data=[
        {"component": {"name": component}, "variable": {"name": variable}, "attribute_value": value}]),
        suppress=False)
    return str(answer.set_variable_result[0]["attribute_status"])


async def offline(h: Harness, adapter: Adapter201) -> None:
    await adapter.link.disable()
    await eventually(lambda: not adapter._online.is_set(), h.clock, 0.1)


def decisions(h: Harness) -> list[TokenDecided]:
    return [e for e in h.events if isinstance(e, TokenDecided)]


def started(csms: Csms) -> list[dict[str, Any]]:
    return [e for e in csms.of("TransactionEvent") if e["event_type"] == "Started"]


async def test_swipes_are_authorized_by_the_csms(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = tokens_answer({"GOOD": {"status": "Accepted"},
                                                   "BAD": {"status": "Blocked"},
                                                   "BROKE": {"status": "NoCredit"}})
        h, adapter = await station(make_harness, csms)
        h.sim.plug()
        await h.advance(1)
        assert started(csms) == []  # AuthCtrlr.Enabled: the plug alone starts nothing
        for n, token in enumerate(("BAD", "STRANGER", "BROKE"), start=1):
            h.sim.swipe(token)
            await eventually(lambda: len(csms.of("Authorize")) == n, h.clock, 0.1, within=15)  # noqa: B023
            await h.advance(1)
            assert h.station.session_of(1) is None and started(csms) == []
        h.sim.swipe("GOOD")
        await eventually(lambda: len(started(csms)) == 1, h.clock, 0.1, within=15)
        assert csms.of("Authorize")[-1]["id_token"] == {"id_token": "GOOD", "type": "ISO14443"}
        assert started(csms)[0]["id_token"] == {"id_token": "GOOD", "type": "ISO14443"}
        refusals = [e for e in decisions(h) if not e.accepted]
        assert [e.id_tag for e in refusals] == ["BAD", "STRANGER", "BROKE"]
        assert "Blocked" in refusals[0].outcome and "NoCredit" in refusals[2].outcome
        assert adapter.authorization.store.cache_size() == 4  # every answer is cached (C10)


async def test_the_cache_decides_offline_until_cleared(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = tokens_answer({"GOOD": {"status": "Accepted"},
                                                   "BAD": {"status": "Blocked"}})
        h, adapter = await station(make_harness, csms)
        auth = adapter.authorization
        assert (await auth.authorize("GOOD", 1)).accepted
        assert not (await auth.authorize("BAD", 1)).accepted
        assert len(csms.of("Authorize")) == 2
        assert await set_variable(csms, "AuthCtrlr", "LocalPreAuthorize", "true") == "Accepted"
        pre = await auth.authorize("GOOD", 1)
        assert pre.accepted and "pre-authorized" in pre.source  # C12: no Authorize for a cached token
        assert len(csms.of("Authorize")) == 2
        await offline(h, adapter)
        h.sim.plug()
        h.sim.swipe("GOOD")
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        assert "authorization cache, offline" in decisions(h)[-1].outcome
        assert (await auth.authorize("BAD", 1)).status == "Blocked"
        assert not (await auth.authorize("STRANGER", 1)).accepted
        assert len(csms.of("Authorize")) == 2

        adapter.link.enable()
        await eventually(adapter._online.is_set, h.clock, 0.1, within=15)
        assert await set_variable(csms, "AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true") == "Accepted"
        assert csms.peer is not None
        cleared = await csms.peer.call(call.ClearCache(), suppress=False)
        assert cleared.status == "Accepted" and auth.store.cache_size() == 0
        await offline(h, adapter)
        unknown = await auth.authorize("GOOD", 1)  # no longer known: the offline rule for unknown tokens
        assert unknown.accepted and "OfflineTxForUnknownIdEnabled" in unknown.source
        adapter.link.enable()
        await eventually(adapter._online.is_set, h.clock, 0.1, within=15)
        assert await set_variable(csms, "AuthCacheCtrlr", "Enabled", "false") == "Accepted"
        refused = await csms.peer.call(call.ClearCache(), suppress=False)
        assert refused.status == "Rejected"  # C11: the cache is off
        await auth.authorize("GOOD", 1)
        assert auth.store.cache_size() == 0  # nothing is cached while it is off


async def test_cache_lifetime_and_expiry(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, adapter = await station(make_harness, csms, **{"AuthCacheCtrlr.LifeTime": 600})
        soon = "2030-06-01T12:05:00.000Z"  # 5 min after the CSMS's NOW, which set the clock
        csms.answers["Authorize"] = tokens_answer({"SHORT": {"status": "Accepted",
                                                             "cache_expiry_date_time": soon},
                                                   "LONG": {"status": "Accepted"}})
        auth = adapter.authorization
        assert (await auth.authorize("SHORT", 1)).accepted and (await auth.authorize("LONG", 1)).accepted
        await offline(h, adapter)
        await h.advance(400)  # past cacheExpiryDateTime, within LifeTime
        assert (await auth.authorize("SHORT", 1)).status == "Expired"
        assert (await auth.authorize("LONG", 1)).accepted
        await h.advance(300)  # past LifeTime
        assert (await auth.authorize("LONG", 1)).status == "Expired"


async def test_transaction_event_answers_update_the_cache(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, adapter = await station(make_harness, csms)
        csms.answers["TransactionEvent"] = lambda p: call_result.TransactionEvent(
            id_token_info={"status": "Blocked"} if "id_token" in p else None)
        h.sim.plug()
        h.sim.swipe("CARD")
        await eventually(lambda: len(started(csms)) == 1, h.clock, 0.1, within=15)
        await eventually(lambda: h.station.session_of(1) is None, h.clock, 0.1, within=15)  # E05
        await offline(h, adapter)
        assert (await adapter.authorization.authorize("CARD", 1)).status == "Blocked"


async def test_a_card_of_the_same_group_stops_the_session(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        group = {"id_token": "FLEET", "type": "Central"}
        csms.answers["Authorize"] = tokens_answer({
            "ALICE": {"status": "Accepted", "group_id_token": group},
            "BOB": {"status": "Accepted", "group_id_token": group},
            "EVE": {"status": "Accepted", "group_id_token": {"id_token": "OTHER", "type": "Central"}}})
        h, adapter = await station(make_harness, csms)
        answers: list[tuple[str, str]] = []
        adapter.authorization.on_answer(lambda token, answer: answers.append(
            (token["id_token"], answer.id_token_info["status"])))
        h.sim.plug()
        h.sim.swipe("ALICE")
        await eventually(lambda: len(started(csms)) == 1, h.clock, 0.1, within=15)
        h.sim.swipe("EVE")
        await eventually(lambda: len(csms.of("Authorize")) == 2, h.clock, 0.1, within=15)
        await h.advance(1)
        assert h.station.session_of(1) is not None  # another group's card does not stop it
        h.sim.swipe("BOB")
        await eventually(lambda: csms.of("TransactionEvent")[-1]["event_type"] == "Ended", h.clock, 0.1,
                         within=15)
        ended = csms.of("TransactionEvent")[-1]
        assert ended["trigger_reason"] == "StopAuthorized"
        assert ended["id_token"] == {"id_token": "BOB", "type": "ISO14443"}
        assert answers == [("ALICE", "Accepted"), ("EVE", "Accepted"), ("BOB", "Accepted")]


async def test_authorization_off_charges_at_the_plug(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, adapter = await station(make_harness, csms, **{"AuthCtrlr.Enabled": False})
        h.sim.plug()
        await eventually(lambda: len(started(csms)) == 1, h.clock, 0.1, within=15)
        assert "id_token" not in started(csms)[0]
        assert (await adapter.authorization.authorize("ANY", 1)).accepted
        assert csms.of("Authorize") == []


async def test_the_authorize_answer_reaches_the_driver_display(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = lambda p: call_result.Authorize(id_token_info={
            "status": "Accepted", "personal_message": {"format": "UTF8", "language": "en",
                                                       "content": "0.25 EUR/kWh for you"}})
        h: Harness = await make_harness(ocpp=section(csms.url), connectors=[DISPLAY],
                                        display={"language": "en", "currency": "EUR"},
                                        station={"free_charging": False})
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        h.sim.plug()
        h.sim.swipe("CARD")
        await eventually(lambda: "0.25 EUR/kWh for you" in screen(h), h.clock, 0.1, within=15)  # I01
        assert csms.of("TransactionEvent")[0]["id_token"]["id_token"] == "CARD"


def listed(token: str, status: str | None, group: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id_token": {"id_token": token, "type": "ISO14443"}}
    if status is not None:
        group_token = {"group_id_token": {"id_token": group, "type": "Central"}} if group else {}
        entry["id_token_info"] = {"status": status, **group_token}
    return entry


async def test_local_list_full_differential_and_version_mismatch(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, adapter = await station(make_harness, csms)
        async def send(version: int, kind: str, entries: list[dict[str, Any]]) -> str:
            assert csms.peer is not None
            answer = await csms.peer.call(call.SendLocalList(version_number=version, update_type=kind,
                                                             local_authorization_list=entries or None),
                                          suppress=False)
            return str(answer.status)

        async def version() -> int:
            assert csms.peer is not None
            return int((await csms.peer.call(call.GetLocalListVersion(), suppress=False)).version_number)

        assert await version() == 0  # D02: no list yet
        assert await send(3, "Full", [listed("ANN", "Accepted", "FLEET"), listed("BEN", "Accepted"),
                                      listed("CAT", "Blocked")]) == "Accepted"
        assert await version() == 3
        assert await send(3, "Differential", [listed("DAN", "Accepted")]) == "VersionMismatch"
        assert await send(2, "Differential", [listed("DAN", "Accepted")]) == "VersionMismatch"
        assert await send(4, "Differential", [listed("DAN", "Accepted"), listed("BEN", None)]) == "Accepted"
        assert await version() == 4
        twice = [listed("EVA", "Accepted"), listed("EVA", "Blocked")]
        assert await send(5, "Differential", twice) == "Failed"
        assert csms.peer is not None
        got = await csms.peer.call(call.GetVariables(get_variable_data=[
            {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Entries"}}]), suppress=False)
        assert got.get_variable_result[0]["attribute_value"] == "3"  # ANN, CAT, DAN
        status = adapter.status()  # `chargepi status`: the list as the charger holds it
        assert status["local_list_version"] == 4 and status["local_list_size"] == 3

        assert await set_variable(csms, "AuthCtrlr", "LocalPreAuthorize", "true") == "Accepted"
        ann = await adapter.authorization.authorize("ANN", 1)
        assert ann.accepted and ann.parent_id_tag == "FLEET" and "local list" in ann.source
        assert csms.of("Authorize") == []  # the list decided, online, without Authorize
        await offline(h, adapter)
        assert (await adapter.authorization.authorize("DAN", 1)).accepted
        assert (await adapter.authorization.authorize("CAT", 1)).status == "Blocked"
        assert not (await adapter.authorization.authorize("BEN", 1)).accepted  # removed
        adapter.link.enable()
        await eventually(adapter._online.is_set, h.clock, 0.1, within=15)

        assert await send(9, "Full", []) == "Accepted"
        assert await version() == 0  # an empty list reads 0
        assert await set_variable(csms, "LocalAuthListCtrlr", "Enabled", "false") == "Accepted"
        assert await send(10, "Full", [listed("ANN", "Accepted")]) == "Failed"


async def test_local_list_size_limits(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        _, adapter = await station(make_harness, csms, **{"LocalAuthListCtrlr.ItemsPerMessage": 2,
                                                          "LocalAuthListCtrlr.BytesPerMessage": 400})
        assert csms.peer is not None
        three = [listed(t, "Accepted") for t in ("A", "B", "C")]
        answer = await csms.peer.call(call.SendLocalList(version_number=1, update_type="Full",
                                                         local_authorization_list=three), suppress=False)
        assert answer.status == "Failed"  # more than ItemsPerMessage
        many = [listed("X" * 36, "Accepted"), listed("Y" * 36, "Accepted")]
        for entry in many:
            entry["id_token_info"]["personal_message"] = {"format": "UTF8", "content": "z" * 150}
        with pytest.raises(FormatViolationError):  # a frame over BytesPerMessage
            await csms.peer.call(call.SendLocalList(version_number=1, update_type="Full",
                                                    local_authorization_list=many), suppress=False)
        assert adapter.authorization.store.list_size() == 0


async def test_offline_the_local_list_starts_and_a_group_card_stops(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h, adapter = await station(make_harness, csms)
        assert csms.peer is not None
        cards = [listed("ANN", "Accepted", "FLEET"), listed("BOB", "Accepted", "FLEET"),
                 listed("JOE", "Accepted", "HOME")]
        sent = await csms.peer.call(call.SendLocalList(version_number=1, update_type="Full",
                                                       local_authorization_list=cards), suppress=False)
        assert sent.status == "Accepted"
        await offline(h, adapter)
        h.sim.plug()
        h.sim.swipe("ANN")
        await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.1, within=15)
        h.sim.swipe("JOE")  # another group: refused as a stopper
        await h.advance(1)
        assert h.station.session_of(1) is not None
        h.sim.swipe("BOB")
        await eventually(lambda: not adapter.transactions.open, h.clock, 0.1, within=15)  # Ended queued
        assert csms.of("Authorize") == []
        adapter.link.enable()
        await eventually(lambda: any(e["event_type"] == "Ended" for e in csms.of("TransactionEvent")),
                         h.clock, 0.1, within=30)
        evs = csms.of("TransactionEvent")
        assert all(e["offline"] for e in evs)  # E04: they happened offline
        assert evs[0]["id_token"]["id_token"] == "ANN"
        assert evs[-1]["trigger_reason"] == "StopAuthorized" and evs[-1]["id_token"]["id_token"] == "BOB"


async def test_a_master_pass_stops_every_transaction_and_starts_none(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.answers["Authorize"] = tokens_answer({
            "CARD-1": {"status": "Accepted"}, "CARD-2": {"status": "Accepted"},
            "BOSS": {"status": "Accepted", "group_id_token": {"id_token": "MASTERS", "type": "Central"}}})
        ocpp = {**section(csms.url), "device_model": {"AuthCtrlr.MasterPassGroupId": "MASTERS"}}
        h: Harness = await make_harness(ocpp=ocpp, station={"free_charging": False},
                                        connectors=[{"id": 1}, {"id": 2}])
        await eventually(lambda: len(csms.statuses) >= 2, h.clock, 0.1, within=15)
        h.sim_connector(1).plug()
        h.sim_connector(2).plug()
        await h.station.present_token("CARD-1", 1)
        await h.station.present_token("CARD-2", 2)
        await eventually(lambda: len(started(csms)) == 2, h.clock, 0.1, within=15)
        assert await h.station.present_token("BOSS")

        def ended() -> list[dict[str, Any]]:
            return [e for e in csms.of("TransactionEvent") if e["event_type"] == "Ended"]

        await eventually(lambda: len(ended()) == 2, h.clock, 0.5, within=15)
        assert {e["transaction_info"]["stopped_reason"] for e in ended()} == {"MasterPass"}
        assert {e["trigger_reason"] for e in ended()} == {"StopAuthorized"}
        h.sim_connector(1).unplug()
        await h.advance(2)
        h.sim_connector(1).plug()
        assert not await h.station.present_token("BOSS", 1)  # starts nothing
        await h.advance(5)
        assert len(started(csms)) == 2
