"""A power cut during a session: at the next start the session ends with PowerLoss, or resumes."""

import pytest

from firmware.core.events import SessionStarted, SessionStopped
from firmware.core.published import status_label
from firmware.sessions.store import SessionStore
from firmware.sessions.store import db_path as sessions_db


async def interrupted_session(make_harness, short_dir, **kw):
    first = await make_harness(state_dir=short_dir, **kw)
    first.sim.plug()
    await first.advance(125)  # journal written at start and every 60 s
    started, = first.of_type(SessionStarted)
    return first, started  # abandoned without stop(): the process "died"


async def test_power_loss_ends_the_session_with_the_last_journaled_meter_value(make_harness, short_dir):
    _, started = await interrupted_session(make_harness, short_dir)
    second = await make_harness(state_dir=short_dir)
    stopped, = second.of_type(SessionStopped)
    assert stopped.session_id == started.session_id
    assert stopped.reason.value == "PowerLoss"
    # energy up to the last journal write (~120 s at 22 kW), never more than was measured
    assert stopped.meter_stop_wh == pytest.approx(started.meter_start_wh + 22080 * 119 / 3600, rel=0.02)
    third = await make_harness(state_dir=short_dir)
    assert third.of_type(SessionStopped) == []  # reported exactly once


async def test_resume_policy_continues_when_the_ev_is_still_plugged(make_harness, short_dir):
    _, started = await interrupted_session(make_harness, short_dir,
                                               station={"power_loss_policy": "resume"})
    second = await make_harness(state_dir=short_dir, start=False,
                                station={"power_loss_policy": "resume"})
    assert second.sim.snapshot()["plugged"]  # the simulated car stayed plugged in, as a real one does
    await second.app.start()
    try:
        await second.advance(3)
        assert second.of_type(SessionStopped) == []
        session = second.station.session_of(1)
        assert session is not None and session["id"] == started.session_id
        assert status_label(second.connector().state) == "Charging"
        assert second.connector().describe()["contactor"]["closed"]  # and it really charges again
        second.sim.unplug()
        await second.advance(1)  # the final meter reading settles
        stopped, = second.of_type(SessionStopped)
        assert stopped.session_id == started.session_id
        assert stopped.reason.value == "EVDisconnected"
    finally:
        await second.app.stop()


async def test_resume_policy_stops_when_the_ev_is_gone(make_harness, short_dir):
    await interrupted_session(make_harness, short_dir, station={"power_loss_policy": "resume"})
    second = await make_harness(state_dir=short_dir, start=False, station={"power_loss_policy": "resume"})
    second.sim.unplug()  # the car left while the charger was off
    await second.app.start()
    await second.settle()
    stopped, = second.of_type(SessionStopped)
    assert stopped.reason.value == "PowerLoss"


async def test_power_loss_record_keeps_every_figure_of_the_session(make_harness, short_dir):
    """The session record written after a cut has the journaled energy, end time and peak power, even though
    the recorder's last checkpoint (every 5 minutes) was long before the cut."""
    _, started = await interrupted_session(make_harness, short_dir)
    second = await make_harness(state_dir=short_dir)
    stopped, = second.of_type(SessionStopped)
    store = SessionStore.open_read_only(sessions_db(short_dir))
    record = store.get(started.session_id)
    store.close()
    assert record is not None and record.stop_reason == "PowerLoss"
    assert record.started_at == started.timestamp.replace(microsecond=0)
    assert record.stopped_at == stopped.timestamp.replace(microsecond=0)
    assert record.meter_start_wh == started.meter_start_wh
    assert record.meter_stop_wh == stopped.meter_stop_wh
    assert record.energy_wh == pytest.approx(22080 * 119 / 3600, rel=0.02)
    assert record.max_power_w == pytest.approx(22080, rel=0.01)  # 3 x 32 A x 230 V
    assert record.avg_power_w == pytest.approx(22080 * 119 / 120, rel=0.03)
