"""Safety reaction time: from a CP change or fault input to the contactor-open command.

Runs the real controller on the fake HAL with the real clock. A separate thread plays the part of the CP
sampler / GPIO interrupt thread and injects >= 10,000 events (EV C->B, RCD trip, unplug, emergency stop),
while the asyncio loop is kept busy by a CPU-heavy task (blocking chunks of --busy-ms). The time from the
injection to the contactor's open() call is reported as p50/p99/max.

    python -m tools.bench.safety_latency [--events 10000] [--busy-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from firmware.app import Application
from firmware.clock import RealClock
from firmware.core.vocabulary import Fault
from firmware.settings import load_settings
from hal.fake import SimulatedConnector
from tools.bench.report import figure

EVENT_KINDS = ("cp-c-to-b", "rcd-trip", "unplug", "emergency-stop")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def busy_loop(stop: asyncio.Event, chunk_s: float) -> int:
    """Hog the event loop: burn CPU for chunk_s, yield once, repeat."""
    chunks = 0
    while not stop.is_set():
        end = time.perf_counter() + chunk_s
        x = 0
        while time.perf_counter() < end:
            x += sum(i * i for i in range(200))
        chunks += 1
        await asyncio.sleep(0)
    return chunks


def wait_until(predicate: Callable[[], bool], describe: Callable[[], object],
               timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the controller did not get back to charging: {describe()}")
        time.sleep(0.0005)


def clear_on_loop(app: Application, loop: asyncio.AbstractEventLoop, connector_id: int, fault: Fault) -> None:
    """A technician's `chargepi fault clear`, run on the loop as the control socket would."""
    cleared = concurrent.futures.Future[bool]()
    loop.call_soon_threadsafe(lambda: cleared.set_result(app.station.clear_fault(connector_id, fault)))
    cleared.result(timeout=30)


def inject_events(app: Application, loop: asyncio.AbstractEventLoop, connector: SimulatedConnector,
                  kinds: list[str], opened_at: list[float], latencies: list[float]) -> None:
    sim = app.simulation
    assert sim is not None
    controller = app.station.connector(connector.connector_id)
    estop = sim.emergency_stop
    assert estop is not None
    rng = random.Random(61851)
    for kind in kinds:
        wait_until(lambda: connector.contactor.commanded_closed,
                   lambda kind=kind: (kind, len(latencies), controller.describe()))  # type: ignore[misc]
        time.sleep(rng.uniform(0, 0.002))  # events arrive at random moments of the loop's work
        before = len(opened_at)
        t0 = time.perf_counter()
        if kind == "cp-c-to-b":
            connector.pause()
        elif kind == "rcd-trip":
            connector.inject("rcd")
        elif kind == "unplug":
            connector.unplug()
        else:
            estop.set(True)
        if len(opened_at) == before:
            raise RuntimeError(f"{kind} #{len(latencies)}: the contactor was not opened in the reporting "
                               f"thread (last opened for {controller.interlock.last_open_reason}); "
                               f"{controller.describe()}")
        latencies.append(opened_at[before] - t0)
        # restore: the controller closes again through its normal (loop) path
        if kind == "cp-c-to-b":
            connector.resume()
        elif kind == "rcd-trip":  # the monitor resets and a technician clears the latched fault
            connector.clear("rcd")
            clear_on_loop(app, loop, connector.connector_id, Fault.RCD_TRIP)
        elif kind == "unplug":
            connector.plug()
        else:  # an emergency stop ends the session: the driver unplugs and plugs in again. (Not within
            # the 300 ms of state F: while the EVSE drives -12 V the CP cannot see the car at all.)
            estop.set(False)
            wait_until(lambda: controller.status.value == "Finishing",
                       lambda: ("estop release", controller.describe()))
            connector.unplug()
            wait_until(lambda: controller.status.value == "Available",
                       lambda: ("unplug after estop", controller.describe()))
            connector.plug()


async def run(events: int, busy_ms: float) -> dict[str, float]:
    state_dir = Path(tempfile.mkdtemp(prefix="cpbench"))
    settings = load_settings(None, station={"state_dir": str(state_dir),
                                            "hal": {"emergency_stop": {"driver": "fake"}}},
                             connectors=[{"id": 1}])
    clock = RealClock()
    app = Application(settings, clock=clock)
    sim = app.simulation
    assert sim is not None
    connector = sim.connectors[0]
    # The EV reacts at once so that 10,000 cycles fit in a minute or two; that only shortens the
    # restore phase, not the measured path.
    connector._world.ev.reaction_s = 0.0
    opened_at: list[float] = []
    real_open = connector.contactor.open

    def timed_open() -> None:
        opened_at.append(time.perf_counter())
        real_open()

    connector.contactor.open = timed_open  # type: ignore[method-assign]
    await app.start()
    connector.plug()
    stop = asyncio.Event()
    hog = asyncio.create_task(busy_loop(stop, busy_ms / 1000))
    kinds = [EVENT_KINDS[i % len(EVENT_KINDS)] for i in range(events)]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.to_thread(inject_events, app, asyncio.get_running_loop(), connector, kinds, opened_at,
                            latencies)
    elapsed = time.perf_counter() - started
    stop.set()
    chunks = await hog
    await app.stop()
    ms = [v * 1000 for v in latencies]
    return {"events": len(ms), "p50_ms": statistics.median(ms), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms), "mean_ms": statistics.fmean(ms), "busy_chunks": chunks,
            "loop_busy_ms": busy_ms, "wall_s": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--busy-ms", type=float, default=5.0,
                        help="CPU chunk the loop is kept busy with (below the 5 ms GIL switch interval the\n"
                             "injecting thread itself gets starved by CPython; the measured path is not)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # thousands of injected faults would flood the terminal
    result = asyncio.run(run(args.events, args.busy_ms))
    print(f"safety reaction over {result['events']} events with the loop busy in "
          f"{result['loop_busy_ms']:.0f} ms CPU chunks ({result['busy_chunks']} chunks, "
          f"{result['wall_s']:.1f} s):")
    figure("CP change or fault -> contactor-open command p50 (loop busy)", result["p50_ms"], "ms",
           f"p99 {result['p99_ms']:.3f} ms, max {result['max_ms']:.3f} ms, mean {result['mean_ms']:.3f} ms, "
           f"n={result['events']:.0f}")


if __name__ == "__main__":
    main()
