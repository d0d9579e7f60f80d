"""The development CSMS answers a whole OCPP 2.0.1 charger (the real Application on the fake HAL, subprotocol
`ocpp2.0.1`) beside 1.6 ones: boot, Authorize by its tag rules, the transaction kept from its
TransactionEvents, a smart-charging request from the CSMS side."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v201 import call

from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tools.csms import DevCsms

CP = "CP201"


def section(url: str) -> dict[str, Any]:
    return {"url": url, "charge_point_id": CP, "version": "2.0.1", "reconnect_min_s": 1.0,
            "ping_interval_s": 0, "response_timeout_s": 5.0}


async def test_a_2_0_1_session_is_answered_and_recorded(make_harness: HarnessFactory) -> None:
    log = io.StringIO()
    async with DevCsms(accepted_tags={"GOOD"}, tag_parents={"GOOD": "FLEET"}, log_stream=log,
                       now=lambda: datetime(2030, 6, 1, 12, tzinfo=UTC)) as csms:
        h = await make_harness(ocpp=section(csms.url), station={"free_charging": False})
        await eventually(lambda: csms.count("StatusNotification", CP) >= 1, h.clock, 0.1, within=15)
        assert "(ocpp2.0.1)" in log.getvalue() and csms.count("BootNotification", CP) == 1
        h.sim.plug()
        h.sim.swipe("STRANGER")
        await eventually(lambda: csms.count("Authorize", CP) == 1, h.clock, 0.1, within=15)
        await h.advance(2)
        assert csms.transactions_201 == {}  # Invalid: nothing starts
        h.sim.swipe("GOOD")
        await eventually(lambda: len(csms.transactions_201) == 1, h.clock, 0.1, within=15)
        tx_id, tx = next(iter(csms.transactions_201.items()))
        assert (tx.cp_id, tx.connector_id, tx.id_tag) == (CP, 1, "GOOD")
        await eventually(lambda: "Charging" in h.statuses(), h.clock, 0.1, within=15)

        session = csms.connected[CP]
        answer = await csms.call(CP, call.SetChargingProfile(evse_id=1, charging_profile={
            "id": 1, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": tx_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}]}))
        assert answer.status == "Accepted" and session is csms.connected[CP]
        ten_amps = pytest.approx(16.67, abs=0.01)  # % duty on the pilot
        await eventually(lambda: h.sim.pilot.output.duty_percent == ten_amps, h.clock, 0.1, within=15)

        await h.advance(30)
        h.sim.swipe("GOOD")
        await eventually(lambda: tx.stopped is not None, h.clock, 0.1, within=15)
        assert tx.reason == "Local"
        assert tx.meter_stop is not None and tx.meter_stop > tx.meter_start
        assert csms.call_errors == []
