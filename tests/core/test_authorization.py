"""Tokens, remote starts, availability and reservations as the core handles them."""

from firmware.core.authorization import AuthResult, AuthStatus, Reservation
from firmware.core.events import SessionStarted, SessionStopped
from firmware.core.published import status_label
from firmware.core.vocabulary import StopReason


class TagList:
    """Accepts known tags, with optional parent ids."""

    def __init__(self, tags):
        self.tags = tags

    async def authorize(self, id_tag, connector_id):
        if id_tag not in self.tags:
            return AuthResult(False, AuthStatus.INVALID)
        return AuthResult(True, AuthStatus.ACCEPTED, self.tags[id_tag])


async def ocpp_like(make_harness, **kw):
    h = await make_harness(**kw)
    h.station.set_authorizer(TagList({"AA": "FLEET", "BB": "FLEET", "CC": None}), auto_start=False)
    return h


async def test_plug_first_then_swipe(make_harness):
    h = await ocpp_like(make_harness)
    h.sim.plug()
    await h.advance(3)
    assert status_label(h.connector().state) == "Preparing"
    assert not h.sim.contactor.commanded_closed
    h.sim.swipe("NOPE")
    await h.advance(1)
    assert h.of_type(SessionStarted) == []
    h.sim.swipe("AA")
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    started, = h.of_type(SessionStarted)
    assert started.id_tag == "AA"


async def test_swipe_first_then_plug_within_the_connection_timeout(make_harness):
    h = await ocpp_like(make_harness, station={"connection_timeout_s": 30})
    assert await h.station.present_token("AA")
    await h.settle()
    assert status_label(h.connector().state) == "Preparing"
    await h.advance(29)
    h.sim.plug()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"


async def test_authorization_expires_without_a_plug(make_harness):
    h = await ocpp_like(make_harness, station={"connection_timeout_s": 30})
    assert await h.station.present_token("AA")
    await h.advance(31)
    assert status_label(h.connector().state) == "Available"
    h.sim.plug()
    await h.advance(2)
    assert h.of_type(SessionStarted) == []


async def test_same_tag_or_same_parent_stops_other_tags_do_not(make_harness):
    h = await ocpp_like(make_harness)
    h.sim.plug()
    await h.station.present_token("AA")
    await h.advance(2)
    assert not await h.station.present_token("CC")  # stranger: no effect
    assert await h.station.present_token("BB")  # same parent FLEET: stops
    await h.advance(2)
    stopped, = h.of_type(SessionStopped)
    assert (stopped.reason, stopped.id_tag, stopped.start_id_tag) == (StopReason.LOCAL, "BB", "AA")
    assert status_label(h.connector().state) == "Finishing"


async def test_remote_start_with_and_without_authorize(make_harness):
    h = await ocpp_like(make_harness)
    h.sim.plug()
    assert not await h.station.remote_start("NOPE", 1, authorize=True)
    assert await h.station.remote_start("NOPE", 1, authorize=False)  # AuthorizeRemoteTxRequests off
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
    assert not await h.station.remote_start("AA", 1)  # occupied


async def test_availability_is_scheduled_during_a_session_and_persists(make_harness, short_dir):
    h = await make_harness()
    h.sim.plug()
    await h.advance(2)
    assert h.station.set_available(0, False) == "Scheduled"
    assert status_label(h.connector().state) == "Charging"
    h.station.stop_session(1, StopReason.REMOTE)
    await h.advance(2)
    assert status_label(h.connector().state) == "Unavailable"
    assert h.sim.pilot.output.mode.value == "negative"  # state F: not available
    h.sim.unplug()
    await h.settle()
    await h.app.stop()
    again = await make_harness(state_dir=short_dir)
    assert status_label(again.connector().state) == "Unavailable"  # survives a restart
    assert again.station.set_available(1, True) == "Accepted"
    assert status_label(again.connector().state) == "Available"


async def test_reservation_holds_the_connector_for_its_tag(make_harness):
    h = await ocpp_like(make_harness)
    expires = h.clock.monotonic() + 600
    assert h.station.reserve(1, Reservation(7, "CC", None, expires)) == "Accepted"
    await h.settle()
    assert status_label(h.connector().state) == "Reserved"
    h.sim.plug()
    await h.settle()
    assert not await h.station.present_token("AA", 1)  # not the reserved tag
    assert await h.station.present_token("CC", 1)
    await h.advance(2)
    started, = h.of_type(SessionStarted)
    assert started.reservation_id == 7


async def test_reservation_by_parent_and_expiry(make_harness):
    h = await ocpp_like(make_harness)
    now = h.clock.monotonic()
    assert h.station.reserve(0, Reservation(8, "XX", "FLEET", now + 60)) == "Accepted"
    assert h.station.reserve(1, Reservation(9, "YY", None, now + 60)) == "Occupied"
    assert await h.station.present_token("BB", 1)  # parent FLEET matches: authorized, waits for plug
    assert h.station.reserve(1, Reservation(10, "YY", None, now + 60)) == "Occupied"  # pending auth
    assert h.station.stop_session(1, StopReason.LOCAL)  # cancels the pending authorization
    assert h.station.reserve(1, Reservation(10, "YY", None, now + 60)) == "Occupied"  # 8 still held
    assert h.station.cancel_reservation(8)
    assert h.station.reserve(1, Reservation(11, "YY", None, now + 60)) == "Accepted"
    await h.advance(61)
    assert status_label(h.connector().state) == "Available"
    assert h.station.cancel_reservation(11) is False


async def test_a_card_read_in_the_reader_thread_starts_the_session(make_harness):
    import threading

    h = await ocpp_like(make_harness)
    h.sim.plug()
    await h.settle()
    reader = threading.Thread(target=h.sim.swipe, args=("AA",))
    reader.start()
    reader.join()
    await h.advance(2)
    assert status_label(h.connector().state) == "Charging"
