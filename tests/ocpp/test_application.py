"""The whole controller (Application on the fake HAL, SimClock) against a real websocket CSMS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocpp.v16 import call

from firmware.app import EXIT_RESTART
from firmware.ocpp.v16.adapter import OcppAdapter
from tests.conftest import Harness as AppHarness
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms


def ocpp_section(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "url": f"ws://127.0.0.1:{port}/ocpp",
        "charge_point_id": "CP-E2E",
        "reconnect_min_s": 1.0,
        "reconnect_max_s": 5.0,
        "ping_interval_s": 0,
        "response_timeout_s": 2.0,
        **extra,
    }


async def online(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter._online.is_set(), h.clock, 0.1)


async def drained(h: AppHarness) -> None:
    adapter = h.app.ocpp
    assert isinstance(adapter, OcppAdapter)
    await eventually(lambda: adapter.outbox.depth() == 0, h.clock, 0.1)


async def test_rfid_session_from_swipe_to_unplug(make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port, configuration={"MeterValueSampleInterval": 60}))
    await online(h)
    assert csms.calls("BootNotification")[0]["chargePointVendor"] == "chargepi"
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe("CARD-1")
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    assert csms.calls("Authorize") == [{"idTag": "CARD-1"}]
    await h.advance(300)
    status = h.station.snapshot()
    assert status["ocpp"]["registration"] == "Accepted"
    assert status["connectors"][0]["transaction"]["id"] == 101
    h.sim.unplug()
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.1)
    start = csms.calls("StartTransaction")[0]
    stop = csms.calls("StopTransaction")[0]
    assert start["idTag"] == "CARD-1" and stop["reason"] == "EVDisconnected"
    assert stop["meterStop"] - start["meterStart"] > 1000  # ~5 min at 22 kW
    assert len([m for m in csms.calls("MeterValues") if m.get("transactionId") == 101]) >= 4
    statuses = [s["status"] for s in csms.calls("StatusNotification") if s["connectorId"] == 1]
    assert "Preparing" in statuses and "Charging" in statuses and statuses[-1] in ("Available", "Finishing")


async def test_remote_start_and_parent_id_tag_stop(make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    csms.tags["FLEET-A"] = {"status": "Accepted", "parentIdTag": "FLEET"}
    csms.tags["FLEET-B"] = {"status": "Accepted", "parentIdTag": "FLEET"}
    h = await make_harness(ocpp=ocpp_section(port, configuration={"AuthorizeRemoteTxRequests": True}))
    await online(h)
    assert csms.cp is not None
    answer = await csms.cp.call(call.RemoteStartTransaction(id_tag="FLEET-A", connector_id=1), suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.calls("Authorize")) == 1, h.clock, 0.1)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    h.sim.swipe("FLEET-B")  # same parent: may stop the session
    await eventually(lambda: h.station.session_of(1) is None, h.clock, 0.2)
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.2)
    stop = csms.calls("StopTransaction")[0]
    assert stop["reason"] == "Local" and stop["idTag"] == "FLEET-B"


async def test_power_cut_mid_session_reported_once_after_restart(
    make_harness: HarnessFactory, csms: TestCsms, short_dir: Path
) -> None:
    port = await csms.start()
    section = ocpp_section(port)
    first = await make_harness(state_dir=short_dir, ocpp=section, station={"free_charging": True})
    await online(first)
    first.sim.plug()
    await first.advance(130)
    await drained(first)
    assert len(csms.calls("StartTransaction")) == 1
    # The process dies: no stop(), connection dropped.
    assert first.app.ocpp is not None
    await first.app.ocpp.link.disable()
    second = await make_harness(state_dir=short_dir, ocpp=section, station={"free_charging": True})
    await online(second)
    await drained(second)
    third = await make_harness(state_dir=short_dir, ocpp=section, station={"free_charging": True})
    await online(third)
    await drained(third)
    stops = csms.calls("StopTransaction")
    assert len(stops) == 1 and stops[0]["reason"] == "PowerLoss"
    assert stops[0]["meterStop"] > csms.calls("StartTransaction")[0]["meterStart"]
    assert csms.calls("StartTransaction")[0]["idTag"] == "FreeCharging"


async def test_hard_reset_ends_the_session_and_exits_for_restart(
    make_harness: HarnessFactory, csms: TestCsms, short_dir: Path
) -> None:
    port = await csms.start()
    section = ocpp_section(port)
    h = await make_harness(state_dir=short_dir, ocpp=section, station={"free_charging": True})
    await online(h)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await drained(h)
    assert csms.cp is not None
    assert (await csms.cp.call(call.Reset(type="Hard"), suppress=False)).status == "Accepted"
    await eventually(lambda: h.app._exit is not None and h.app._exit.done(), h.clock, 0.1)
    assert h.app._exit is not None and h.app._exit.result() == EXIT_RESTART
    await h.app.stop()  # what run() does before the process exits
    again = await make_harness(state_dir=short_dir, ocpp=section, station={"free_charging": True})
    await online(again)
    await eventually(lambda: csms.calls("StopTransaction") != [], again.clock, 0.1)
    stops = csms.calls("StopTransaction")
    assert len(stops) == 1 and stops[0]["reason"] == "HardReset"
    assert csms.retransmissions == []


async def test_smart_charging_messages_through_the_adapter(
    make_harness: HarnessFactory, csms: TestCsms
) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port))
    await online(h)
    assert csms.cp is not None
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.5}],
        },
    }
    answer = await csms.cp.call(
        call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile), suppress=False
    )
    assert answer.status == "Accepted"
    assert h.station.snapshot()["connectors"][0]["limits"]["smart_charging"] == 10.5
    composite = await csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=600), suppress=False)
    assert composite.status == "Accepted"
    keys = await csms.cp.call(
        call.GetConfiguration(key=["SupportedFeatureProfiles", "ChargeProfileMaxStackLevel"]), suppress=False
    )
    values = {k["key"]: k for k in keys.configuration_key}
    assert "SmartCharging" in values["SupportedFeatureProfiles"]["value"]
    assert values["ChargeProfileMaxStackLevel"]["readonly"] is True
    cleared = await csms.cp.call(call.ClearChargingProfile(id=7), suppress=False)
    assert cleared.status == "Accepted"
    tx_profile = {**profile, "chargingProfilePurpose": "TxProfile", "chargingProfileId": 8}
    start = await csms.cp.call(
        call.RemoteStartTransaction(id_tag="SC", connector_id=1, charging_profile=tx_profile), suppress=False
    )
    assert start.status == "Accepted"
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await eventually(
        lambda: h.station.snapshot()["connectors"][0]["limits"].get("smart_charging") == 10.5, h.clock, 0.2
    )


async def test_reservation_with_parent_id_and_expiry(make_harness: HarnessFactory, csms: TestCsms) -> None:
    from datetime import timedelta

    from firmware.ocpp.common.timefmt import rfc3339

    port = await csms.start()
    csms.tags["MEMBER"] = {"status": "Accepted", "parentIdTag": "CLUB"}
    csms.tags["OUTSIDER"] = {"status": "Accepted"}
    h = await make_harness(ocpp=ocpp_section(port), connectors=[{"id": 1}, {"id": 2}])
    await online(h)
    assert csms.cp is not None
    expiry = rfc3339(h.clock.now() + timedelta(minutes=5))
    answer = await csms.cp.call(
        call.ReserveNow(
            connector_id=1, expiry_date=expiry, id_tag="OWNER", reservation_id=31, parent_id_tag="CLUB"
        ),
        suppress=False,
    )
    assert answer.status == "Accepted"
    statuses = lambda: [s["status"] for s in csms.calls("StatusNotification")]  # noqa: E731
    await eventually(lambda: statuses()[-1:] == ["Reserved"], h.clock, 0.1)
    h.sim.plug()
    h.sim.swipe("OUTSIDER")
    await h.advance(2)
    assert h.station.session_of(1) is None  # not the reserved tag, not its group
    h.sim.swipe("MEMBER")
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await eventually(lambda: csms.calls("StartTransaction") != [], h.clock, 0.1)
    assert csms.calls("StartTransaction")[0]["reservationId"] == 31
    # A second reservation on connector 2 simply expires.
    soon = rfc3339(h.clock.now() + timedelta(seconds=60))
    answer = await csms.cp.call(
        call.ReserveNow(connector_id=2, expiry_date=soon, id_tag="LATE", reservation_id=32), suppress=False
    )
    assert answer.status == "Accepted"
    await eventually(
        lambda: any(
            s["connectorId"] == 2 and s["status"] == "Reserved" for s in csms.calls("StatusNotification")
        ),
        h.clock,
        0.1,
    )
    await h.advance(61)
    await eventually(
        lambda: (
            [s["status"] for s in csms.calls("StatusNotification") if s["connectorId"] == 2][-1]
            == "Available"
        ),
        h.clock,
        0.5,
    )


async def test_unlock_connector_during_a_session(make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port), station={"free_charging": True})
    await online(h)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    await h.advance(10)
    assert csms.cp is not None
    answer = await csms.cp.call(call.UnlockConnector(connector_id=1), suppress=False)
    assert answer.status == "Unlocked"
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.1)
    assert csms.calls("StopTransaction")[0]["reason"] == "UnlockCommand"
    assert h.station.snapshot()["connectors"][0]["contactor"]["closed"] is False


async def test_change_availability_scheduled_until_the_session_ends(
    make_harness: HarnessFactory, csms: TestCsms
) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port), station={"free_charging": True})
    await online(h)
    h.sim.plug()
    await eventually(lambda: h.station.session_of(1) is not None, h.clock, 0.2)
    assert csms.cp is not None
    answer = await csms.cp.call(call.ChangeAvailability(connector_id=0, type="Inoperative"), suppress=False)
    assert answer.status == "Scheduled"
    await h.advance(5)
    assert h.station.session_of(1) is not None  # the session goes on
    h.sim.unplug()

    def last(connector: int) -> str:
        return str(
            [s["status"] for s in csms.calls("StatusNotification") if s["connectorId"] == connector][-1]
        )

    await eventually(lambda: last(1) == "Unavailable" and last(0) == "Unavailable", h.clock, 0.2)
    answer = await csms.cp.call(call.ChangeAvailability(connector_id=0, type="Operative"), suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: last(1) == "Available" and last(0) == "Available", h.clock, 0.2)
