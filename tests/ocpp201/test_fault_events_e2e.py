"""2.0.1 NotifyEvent for faults of a whole charger (fake HAL, simulated time) against the v201 test CSMS:
a fault raised and cleared online (the table of firmware/ocpp/v201/faults.py, seqNo 0, generatedAt, cleared),
the same while the link is down (queued durably, delivered in order after the reconnect with the time it
happened, N07.FR.04), and eventIds that keep counting after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.core.vocabulary import FAULTS, Fault
from firmware.ocpp.v201.adapter import Adapter201
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section


async def charger(make_harness: HarnessFactory, csms: Csms, state_dir: Path | None = None) -> Harness:
    h: Harness = await make_harness(ocpp=section(csms.url), state_dir=state_dir)
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    return h


def data(csms: Csms) -> list[dict[str, Any]]:
    return [d for message in csms.of("NotifyEvent") for d in message["event_data"]]


def shown(csms: Csms) -> list[tuple[str, str, str, bool]]:
    return [(d["component"]["name"], d["variable"]["name"], d["actual_value"], d.get("cleared", False))
            for d in data(csms)]


async def test_a_fault_raised_and_cleared_is_two_events(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        h.sim.inject("meter-offline")
        await eventually(lambda: len(data(csms)) == 1, h.clock, 0.5, within=15)
        h.sim.clear("meter-offline")
        await eventually(lambda: len(data(csms)) == 2, h.clock, 0.5, within=15)
        assert shown(csms) == [("EVSE", "Problem", "true", False), ("EVSE", "Problem", "false", True)]
        raised = data(csms)[0]
        assert (raised["trigger"], raised["event_notification_type"]) == ("Alerting", "HardWiredNotification")
        assert raised["component"]["evse"] == {"id": 1}
        assert raised["tech_code"] == FAULTS[Fault.METER_OFFLINE].vendor_code
        messages = csms.of("NotifyEvent")
        assert [m["seq_no"] for m in messages] == [0, 0] and all(not m.get("tbc") for m in messages)
        assert [d["event_id"] for d in data(csms)] == [1, 2]
        assert messages[0]["generated_at"] == raised["timestamp"]


async def test_faults_while_offline_arrive_in_order_and_ids_survive_a_restart(
        make_harness: HarnessFactory, tmp_path: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path)
        adapter = h.app.ocpp
        assert isinstance(adapter, Adapter201)
        await adapter.link.disable()
        h.sim.inject("meter-offline")
        await h.advance(30)
        h.sim.clear("meter-offline")
        await h.advance(30)
        assert csms.of("NotifyEvent") == []
        adapter.link.enable()
        await eventually(lambda: len(data(csms)) == 2, h.clock, 0.5, within=15)
        assert shown(csms) == [("EVSE", "Problem", "true", False), ("EVSE", "Problem", "false", True)]
        first, second = data(csms)
        assert first["timestamp"] < second["timestamp"]  # when they happened, not when they were sent
        await h.app.stop()
    async with running_csms() as csms:
        again = await charger(make_harness, csms, tmp_path)
        again.sim.inject("meter-offline")
        await eventually(lambda: len(data(csms)) == 1, again.clock, 0.5, within=15)
        assert data(csms)[0]["event_id"] == 3  # eventIds are not reused after a restart


async def test_a_fault_gone_after_a_restart_is_reported_cleared_and_one_found_again_is_not(
        make_harness: HarnessFactory, tmp_path: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path)
        h.sim.inject("meter-offline")
        await eventually(lambda: len(data(csms)) == 1, h.clock, 0.5, within=15)
        await h.app.stop()
    async with running_csms() as csms:
        again = await make_harness(ocpp=section(csms.url), state_dir=tmp_path, start=False)
        again.sim.clear("meter-offline")  # the meter was repaired while the charger was off
        await again.app.start()
        await eventually(lambda: len(csms.statuses) >= 1, again.clock, 0.1, within=15)
        await again.advance(30)
        assert data(csms) == []  # the core might still find it: no word yet
        await eventually(lambda: len(data(csms)) == 1, again.clock, 1.0, within=15)
        assert shown(csms) == [("EVSE", "Problem", "false", True)] and data(csms)[0]["event_id"] == 2
        again.sim.inject("meter-offline")  # broken again, and still when the charger restarts
        await eventually(lambda: len(data(csms)) == 2, again.clock, 0.5, within=15)
        await again.app.stop()
    async with running_csms() as csms:
        third = await charger(make_harness, csms, tmp_path)
        await third.advance(90)
        assert data(csms) == []  # found again: neither cleared nor raised a second time
