"""The interlock's notices reach the controller in the order the readings were taken."""

import threading

from firmware.core.interlock import InterlockNotice, SafetyInterlock
from hal.clock import SimClock
from hal.fake import SimulatedConnector
from hal.types import CPState


def test_a_reading_taken_before_an_unplug_is_not_delivered_after_it():
    """Two threads report the pilot (on the fake HAL the loop's own output change does, on hardware the
    sampler). The one that read B just before the unplug must not have its B arrive after the unplug's A:
    the controller would take that B for a new plug-in and start a session nobody is plugged in for."""
    sim = SimulatedConnector(1, SimClock(), phases=3, voltage_v=230.0)
    sim.plug()
    first_notice = threading.Event()
    release = threading.Event()
    received: list[CPState] = []

    def notify(notice: InterlockNotice) -> None:
        if notice.reading is None:
            return
        if threading.current_thread().name == "slow" and not first_notice.is_set():
            first_notice.set()
            release.wait(0.5)  # the other thread gets its chance to overtake now (if it can)
        received.append(notice.reading.state)

    interlock = SafetyInterlock(sim.hardware(), ventilation=False, notify=notify)
    slow = threading.Thread(target=lambda: interlock.on_pilot(sim.pilot.read()), name="slow")
    slow.start()
    first_notice.wait(5)
    unplugger = threading.Thread(target=sim.unplug)  # the world tells the interlock in this thread
    sim.pilot.subscribe(interlock.on_pilot)
    unplugger.start()
    unplugger.join(0.2)
    release.set()
    slow.join(5)
    unplugger.join(5)
    assert received[-1] == CPState.A
