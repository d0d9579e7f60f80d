"""Reset (B11, B12) on a whole 2.0.1 charger against the v201 test CSMS: Immediate ends every transaction
(ImmediateReset) before the restart, OnIdle is Scheduled while one runs and restarts after it, a Reset for
one EVSE is Rejected, and the next BootNotification says RemoteReset (kept across the restart) once."""

from __future__ import annotations

from pathlib import Path

from ocpp.v201 import call

from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import events


def restarting(h: Harness) -> bool:
    return h.app._exit is not None and h.app._exit.done() and h.app._exit.result() == 75


async def reset(csms: Csms, kind: str, evse_id: int | None = None) -> str:
    assert csms.peer is not None
    answer = await csms.peer.call(call.Reset(type=kind, evse_id=evse_id), suppress=False)
    return str(answer.status)


async def charger(make_harness: HarnessFactory, csms: Csms, state_dir: Path,
                  clock: SimClock | None = None) -> Harness:
    h: Harness = await make_harness(ocpp=section(csms.url), state_dir=state_dir, clock=clock)
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    return h


async def test_immediate_reset_ends_the_transaction_then_boots_as_remote_reset(
        make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, short_dir)
        h.sim.plug()  # free charging: a transaction starts at the plug
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        assert await reset(csms, "Immediate") == "Accepted"
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        ended = events(csms)[-1]
        assert ended["event_type"] == "Ended" and ended["trigger_reason"] == "ResetCommand"
        assert ended["transaction_info"]["stopped_reason"] == "ImmediateReset"
        assert any(e.type == "ResetOrReboot" for e in h.app.security_log.since(0))
        await h.app.stop()

        h2 = await charger(make_harness, csms, short_dir, SimClock(h.clock.now()))
        assert [b["reason"] for b in csms.boots] == ["PowerUp", "RemoteReset"]
        assert not [e for e in events(csms) if e["event_type"] == "Ended"][1:]  # no PowerLoss Ended later
        await h2.app.stop()
        h3 = await charger(make_harness, csms, short_dir, SimClock(h.clock.now()))  # said once
        assert csms.boots[-1]["reason"] == "PowerUp"
        assert not restarting(h3)


async def test_on_idle_reset_waits_for_the_transaction(make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url), state_dir=short_dir, connectors=[{"id": 1}, {"id": 2}])
        await eventually(lambda: len(csms.statuses) >= 2, h.clock, 0.1, within=15)
        assert await reset(csms, "OnIdle") == "Accepted"  # nothing runs: at once
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        await h.app.stop()

        h = await make_harness(ocpp=section(csms.url), state_dir=short_dir, connectors=[{"id": 1}, {"id": 2}],
                               clock=SimClock(h.clock.now()))
        await eventually(lambda: csms.boots[-1:] and csms.boots[-1]["reason"] == "RemoteReset", h.clock, 0.1,
                         within=15)
        h.sim_connector(1).plug()
        await eventually(lambda: any(e["event_type"] == "Started" for e in events(csms)), h.clock, 0.1,
                         within=15)
        assert await reset(csms, "OnIdle") == "Scheduled"  # B12.FR.03
        await h.advance(60)
        assert not restarting(h)
        last = {s["evse_id"]: s["connector_status"] for s in csms.statuses}
        assert last[2] == "Unavailable"  # no new session while the reset waits
        h.sim_connector(1).unplug()
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        assert events(csms)[-1]["event_type"] == "Ended"
        assert events(csms)[-1]["transaction_info"]["stopped_reason"] == "EVDisconnected"


async def test_a_reset_of_one_evse_is_rejected(make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, short_dir)
        assert csms.peer is not None
        answer = await csms.peer.call(call.Reset(type="Immediate", evse_id=1), suppress=False)
        assert answer.status == "Rejected" and answer.status_info["reason_code"] == "UnsupportedRequest"
        await h.advance(5)
        assert not restarting(h)
