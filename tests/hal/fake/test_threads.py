"""Callbacks run in the thread that caused the change; changes from other threads are safe."""

from __future__ import annotations

import asyncio
import threading

from hal.clock import SimClock
from hal.fake import SimulatedConnector
from hal.types import CPState, PilotOutput, PilotReading


def test_concurrent_changes_notify_in_the_changing_thread() -> None:
    conn = SimulatedConnector(1, SimClock())
    calls: list[tuple[str, CPState]] = []
    calls_lock = threading.Lock()

    def record(reading: PilotReading) -> None:
        with calls_lock:
            calls.append((threading.current_thread().name, reading.state))

    conn.pilot.subscribe(record)

    def toggle() -> None:
        for _ in range(200):
            conn.inject("cp-short")
            conn.clear("cp-short")

    workers = [threading.Thread(target=toggle, name=f"worker-{i}") for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert calls
    assert {name for name, _ in calls} <= {w.name for w in workers}
    to_e = sum(1 for _, state in calls if state is CPState.E)
    to_a = sum(1 for _, state in calls if state is CPState.A)
    assert to_e == to_a  # every short was reported, and every end of one
    assert conn.pilot.read().state is CPState.A


def test_a_callback_may_command_the_hardware_at_once() -> None:
    conn = SimulatedConnector(1, SimClock())
    conn.plug()
    conn.set_ev_state("C")
    conn.contactor.close()
    conn.pilot.subscribe(lambda r: conn.contactor.open() if r.state is CPState.B else None)
    conn.pause()
    assert not conn.contactor.commanded_closed
    assert conn.contactor.feedback_closed is False


async def test_output_set_from_another_thread_reaches_the_ev_on_the_clock() -> None:
    clock = SimClock()
    conn = SimulatedConnector(1, clock)
    await conn.pilot.start()
    conn.plug()
    await asyncio.to_thread(conn.pilot.set_output, PilotOutput.pwm(30.0))
    await clock.advance(0.9)
    assert conn.pilot.read().state is CPState.B
    await clock.advance(0.1)
    assert conn.pilot.read().state is CPState.C
