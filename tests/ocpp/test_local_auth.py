"""Authorization cache, local list and the offline rules, against a real CSMS (online) or none (offline)."""

from __future__ import annotations

from datetime import timedelta

from ocpp.v16 import call

from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.timefmt import rfc3339
from tests.ocpp.conftest import Harness, eventually


async def send_list(harness: Harness, version: int, entries: list[dict[str, object]]) -> None:
    assert harness.csms.cp is not None
    answer = await harness.csms.cp.call(
        call.SendLocalList(list_version=version, update_type="Full", local_authorization_list=entries),
        suppress=False,
    )
    assert answer.status == "Accepted"


async def test_online_authorize_fills_the_cache_used_offline(harness: Harness) -> None:
    adapter = await harness.start()
    auth = adapter.authorizer
    harness.csms.tags["BLOCKED"] = {"status": "Blocked"}
    assert (await auth.authorize("GOOD", 1)).accepted
    assert not (await auth.authorize("BLOCKED", 1)).accepted
    assert len(harness.csms.calls("Authorize")) == 2
    await adapter.link.disable()
    await eventually(lambda: not adapter._online.is_set())
    assert (await auth.authorize("GOOD", 1)).accepted  # cache, LocalAuthorizeOffline = true
    assert (await auth.authorize("BLOCKED", 1)).status == "Blocked"
    assert not (await auth.authorize("STRANGER", 1)).accepted
    adapter.config.change("AllowOfflineTxForUnknownId", "true")
    assert (await auth.authorize("STRANGER", 1)).accepted
    assert not (await auth.authorize("BLOCKED", 1)).accepted  # known-invalid stays refused
    adapter.config.change("LocalAuthorizeOffline", "false")
    adapter.config.change("AllowOfflineTxForUnknownId", "false")
    assert not (await auth.authorize("GOOD", 1)).accepted  # the cache is not used offline any more
    assert len(harness.csms.calls("Authorize")) == 2


async def test_local_pre_authorize_skips_the_csms(harness: Harness) -> None:
    adapter = await harness.start()
    await send_list(
        harness, 1, [{"idTag": "LISTED", "idTagInfo": {"status": "Accepted", "parentIdTag": "P"}}]
    )
    assert (await adapter.authorizer.authorize("LISTED", 1)).accepted
    assert len(harness.csms.calls("Authorize")) == 1  # LocalPreAuthorize false: asked the CSMS
    adapter.config.change("LocalPreAuthorize", "true")
    result = await adapter.authorizer.authorize("LISTED", 1)
    assert result.accepted and result.parent_id_tag == "P"
    assert len(harness.csms.calls("Authorize")) == 1


async def test_expired_entries_are_not_accepted(harness: Harness) -> None:
    adapter = await harness.start()
    soon = rfc3339(harness.clock.now() + timedelta(hours=1))
    await send_list(harness, 2, [{"idTag": "TEMP", "idTagInfo": {"status": "Accepted", "expiryDate": soon}}])
    await adapter.link.disable()
    await eventually(lambda: not adapter._online.is_set())
    assert (await adapter.authorizer.authorize("TEMP", 1)).accepted
    await harness.clock.advance(3601)
    result = await adapter.authorizer.authorize("TEMP", 1)
    assert not result.accepted and result.status == "Expired"


async def test_local_list_and_cache_survive_restart(harness: Harness) -> None:
    adapter = await harness.start()
    await send_list(harness, 7, [{"idTag": "KEEP", "idTagInfo": {"status": "Accepted"}}])
    await adapter.authorizer.authorize("CACHED", 1)
    await adapter.stop()
    again = harness.build()
    assert again.authorizer.list_version == 7 and again.authorizer.list_size() == 1
    assert again.authorizer.cache_size() == 1
    assert (await again.authorizer.authorize("KEEP", 1)).accepted  # offline: not started
    harness.adapter = None


async def test_offline_start_with_invalid_tag_is_stopped_when_csms_answers(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("AllowOfflineTxForUnknownId", "true")
    await adapter.link.disable()
    harness.csms.tags["UNKNOWN"] = {"status": "Invalid"}
    assert await harness.station.present_token("UNKNOWN", 1)
    assert harness.station.session_of(1) is not None
    adapter.link.enable()
    await eventually(lambda: harness.station.session_of(1) is None, harness.clock, 0.1)
    await harness.settle()
    stop = harness.csms.calls("StopTransaction")[0]
    assert stop["reason"] == "DeAuthorized"
    harness.station.start(2, "OK")
    harness.station.stop_session(2, StopReason.LOCAL)
    await harness.settle()
