"""A power cut during a session: at the next start the session ends with PowerLoss, or resumes."""

import pytest

from firmware.core.events import SessionStarted, SessionStopped


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
    second.sim.plug()
    await second.app.start()
    try:
        await second.advance(3)
        assert second.of_type(SessionStopped) == []
        session = second.station.session_of(1)
        assert session is not None and session["id"] == started.session_id
        assert second.connector().status.value == "Charging"
        second.sim.unplug()
        await second.advance(1)  # the final meter reading settles
        stopped, = second.of_type(SessionStopped)
        assert stopped.session_id == started.session_id
        assert stopped.reason.value == "EVDisconnected"
    finally:
        await second.app.stop()


async def test_resume_policy_stops_when_the_ev_is_gone(make_harness, short_dir):
    await interrupted_session(make_harness, short_dir, station={"power_loss_policy": "resume"})
    second = await make_harness(state_dir=short_dir, station={"power_loss_policy": "resume"})
    stopped, = second.of_type(SessionStopped)
    assert stopped.reason.value == "PowerLoss"
