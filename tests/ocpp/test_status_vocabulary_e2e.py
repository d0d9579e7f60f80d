"""The neutral vocabulary end to end (Application on the fake HAL, real websocket CSMS): the core reports a
new leading fault that 1.6 cannot tell apart (same status, same errorCode) and the CSMS gets no new
StatusNotification, exactly as before the core published faults instead of 1.6 error codes."""

from __future__ import annotations

from firmware.core.events import StatusChanged
from firmware.core.vocabulary import ConnectorState, Fault
from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application import drained, ocpp_section, online


async def test_a_new_leading_fault_with_the_same_error_code_is_not_sent_again(
        make_harness: HarnessFactory, csms: TestCsms) -> None:
    port = await csms.start()
    h = await make_harness(ocpp=ocpp_section(port))
    await online(h)
    h.sim.inject("rcd-selftest")
    h.sim.plug()
    h.sim.swipe("CARD-1")  # the self test before the session finds the broken monitor
    notifications = lambda: [s for s in csms.calls("StatusNotification") if s["connectorId"] == 1]  # noqa: E731
    await eventually(lambda: [n["status"] for n in notifications()][-1:] == ["Faulted"], h.clock, 0.1)
    await drained(h)
    faulted = notifications()[-1]
    assert (faulted["errorCode"], faulted["vendorErrorCode"]) == ("GroundFailure", "CX002")
    assert faulted["info"].startswith("rcd-selftest")
    sent = len(csms.calls("StatusNotification"))

    h.sim.inject("rcd")  # a trip leads now (it comes first in Fault order): still GroundFailure / CX002
    await h.advance(5)
    await drained(h)
    last = h.of_type(StatusChanged)[-1]
    assert (last.state, last.fault) == (ConnectorState.FAULTED, Fault.RCD_TRIP)  # the core says so ...
    assert len(csms.calls("StatusNotification")) == sent  # ... 1.6 sees no change and hears nothing
