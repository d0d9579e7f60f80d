"""A whole charger with `[ocpp] version = "2.0.1"` (fake HAL, simulated time) against the v201 test CSMS:
registration with Pending (the device model can be read meanwhile, nothing else is sent), StatusNotification
per EVSE with the 2.0.1 states, heartbeats, and the running charger's full inventory checked as TC_B_53
does."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import running_csms
from tests.ocpp201.test_device_model_spec import tc_b_53_problems


def section(url: str) -> dict[str, Any]:
    return {"url": url, "charge_point_id": "CP-1", "version": "2.0.1", "reconnect_min_s": 1.0,
            "ping_interval_s": 0, "response_timeout_s": 5.0}


async def test_registration_status_and_heartbeat(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        csms.boot_answers = [("Pending", 30)]
        h = await make_harness(connectors=[{"id": 1}, {"id": 2}], ocpp=section(csms.url))
        await eventually(lambda: len(csms.boots) == 1, h.clock, 0.1, within=15)
        assert csms.boots[0]["reason"] == "PowerUp"
        assert csms.peer is not None
        got = await csms.peer.call(call.GetVariables(get_variable_data=[
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "AvailabilityState"}}]),
            suppress=False)
        assert got.get_variable_result[0]["attribute_value"] == "Available"
        await h.advance(10)
        assert csms.statuses == [] and csms.heartbeats == 0  # B02: nothing else while Pending
        await eventually(lambda: len(csms.boots) == 2, h.clock, 1.0, within=15)
        await eventually(lambda: len(csms.statuses) == 2, h.clock, 0.1, within=15)
        assert sorted((s["evse_id"], s["connector_id"], s["connector_status"]) for s in csms.statuses) == [
            (1, 1, "Available"), (2, 1, "Available")]
        assert all(s["timestamp"].endswith("Z") for s in csms.statuses)

        h.sim.plug()
        await eventually(lambda: len(csms.statuses) == 3, h.clock, 0.1, within=15)
        assert (csms.statuses[-1]["evse_id"], csms.statuses[-1]["connector_status"]) == (1, "Occupied")

        await eventually(lambda: csms.heartbeats >= 1, h.clock, 5.0, within=15)  # interval 120 s

        answer = await csms.peer.call(call.GetBaseReport(request_id=1, report_base="FullInventory"),
                                      suppress=False)
        assert answer.status == "Accepted"
        await eventually(lambda: csms.report_done(1).is_set(), within=15)
        entries = [e for part in csms.reports[1] for e in part["report_data"]]
        assert tc_b_53_problems(entries, 2) == []
        occupied = [e for e in entries if e["component"]["name"] == "EVSE"
                    and e["variable"]["name"] == "AvailabilityState"]
        assert [e["variable_attribute"][0]["value"] for e in occupied] == ["Occupied", "Available"]
