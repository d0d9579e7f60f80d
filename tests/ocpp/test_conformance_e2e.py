"""OCPP 1.6 conformance of the whole controller (Application, fake HAL) against a real websocket CSMS."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application import drained, ocpp_section, online


def tx_profile(profile_id: int, amps: float) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
    }


async def test_unlock_on_a_tethered_connector_without_lock_is_not_supported_and_leaves_the_session(
    make_harness: HarnessFactory, csms: TestCsms
) -> None:
    port = await csms.start()
    h = await make_harness(
        ocpp=ocpp_section(port),
        station={"free_charging": True},
        connectors=[{"id": 1, "cable": "tethered", "hal": {"lock": None}}],
    )
    await online(h)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await drained(h)
    assert csms.cp is not None
    answer = await csms.cp.call(call.UnlockConnector(connector_id=1), suppress=False)
    assert answer.status == "NotSupported"
    await h.advance(30)
    assert h.station.session_of(1) is not None
    assert h.station.snapshot()["connectors"][0]["contactor"]["closed"] is True
    await drained(h)
    assert csms.calls("StopTransaction") == []


async def test_two_remote_starts_without_connector_each_get_their_own_connector_and_profile(
    make_harness: HarnessFactory, csms: TestCsms
) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port), connectors=[{"id": 1}, {"id": 2}])
    await online(h)
    assert csms.cp is not None

    async def remote_start(tag: str, profile: dict[str, Any] | None = None) -> str:
        assert csms.cp is not None
        answer = await csms.cp.call(
            call.RemoteStartTransaction(id_tag=tag, charging_profile=profile), suppress=False
        )
        return str(answer.status)

    assert await remote_start("R1", tx_profile(1, 10)) == "Accepted"
    assert await remote_start("R2", tx_profile(2, 8)) == "Accepted"
    assert await remote_start("R3") == "Rejected"  # both connectors are claimed
    h.sim_connector(2).plug()
    h.sim_connector(1).plug()
    await eventually(lambda: h.station.session_of(1) is not None and h.station.session_of(2) is not None,
                     h.clock, 0.2)
    session_1, session_2 = h.station.session_of(1), h.station.session_of(2)
    assert session_1 is not None and session_2 is not None
    assert (session_1["id_tag"], session_2["id_tag"]) == ("R1", "R2")
    smart = h.app.smart_charging
    assert smart is not None
    limits = [smart.limit_of(c) for c in (1, 2)]
    assert [None if limit is None else limit.amps for limit in limits] == [10, 8]


async def test_connection_timeout_from_the_csms_bounds_the_plug_wait(
    make_harness: HarnessFactory, csms: TestCsms
) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port))
    await online(h)
    assert csms.cp is not None
    answer = await csms.cp.call(call.ChangeConfiguration(key="ConnectionTimeOut", value="20"), suppress=False)
    assert answer.status == "Accepted"
    answer = await csms.cp.call(call.RemoteStartTransaction(id_tag="R1", connector_id=1), suppress=False)
    assert answer.status == "Accepted"
    await h.advance(25)
    h.sim.plug()
    await h.advance(5)
    assert h.station.session_of(1) is None  # the authorization expired after 20 s, not the default 60 s
