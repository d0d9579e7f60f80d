"""Safety reaction time: from a CP change or fault input to the contactor-open command.

Runs the real controller on the fake HAL with the real clock. A separate thread plays the part of the CP
sampler / GPIO interrupt thread and injects >= 10,000 events (EV C->B, unplug, RCD trip, emergency stop;
tools.bench._flood_rig.inject, shared with tools.bench.safety_flood),
while the asyncio loop is kept busy by a CPU-heavy task (blocking chunks of --busy-ms). The time from the
injection to the contactor's open() call is reported as p50/p99/max.

    python -m tools.bench.safety_latency [--events 2000] [--busy-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from firmware.app import Application
from firmware.settings import load_settings
from hal.clock import RealClock
from tools.bench._flood_rig import OpenClock, inject, latencies
from tools.bench.report import figure
from tools.bench.safety_flood import SimActuator, percentile


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


async def run(events: int, busy_ms: float) -> dict[str, Any]:
    state_dir = Path(tempfile.mkdtemp(prefix="cpbench"))
    settings = load_settings(None, station={"state_dir": str(state_dir),
                                            "hal": {"emergency_stop": {"driver": "fake"}}},
                             # Tethered (as tools.bench.safety_flood): with a socket each unplug drops the
                             # PP cable limit while the PWM is on, and the next plug waits MIN_PAUSE_S (10 s).
                             connectors=[{"id": 1, "cable": "tethered"}])
    clock = RealClock()
    app = Application(settings, clock=clock)
    sim = app.simulation
    assert sim is not None
    connector = sim.connectors[0]
    # The EV reacts at once so that 10,000 cycles fit in a minute or two; that only shortens the
    # restore phase, not the measured path.
    connector._world.ev.reaction_s = 0.0
    opens = OpenClock()
    opens.wrap(connector.contactor)
    await app.start()
    connector.plug()
    stop = asyncio.Event()
    hog = asyncio.create_task(busy_loop(stop, busy_ms / 1000))
    skipped: list[int] = []
    started = time.perf_counter()
    triggered = await asyncio.to_thread(inject, SimActuator(app, asyncio.get_running_loop()), events, opens,
                                        skipped)
    elapsed = time.perf_counter() - started
    stop.set()
    chunks = await hog
    await app.stop()
    by_kind = latencies(triggered, opens.opened_at)
    ms = [v * 1000 for values in by_kind.values() for v in values]
    worst = ", ".join(f"{kind} {max(values) * 1000:.1f}" for kind, values in sorted(by_kind.items()))
    return {"worst": worst, "events": len(ms), "skipped": skipped[0], "p50_ms": statistics.median(ms),
            "p99_ms": percentile(ms, 99),
            "max_ms": max(ms), "mean_ms": statistics.fmean(ms), "busy_chunks": chunks,
            "loop_busy_ms": busy_ms, "wall_s": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    # 2,000 events take about 3 minutes here (each cycle waits for the controller to close again).
    parser.add_argument("--events", type=int, default=2000)
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
           f"n={result['events']:.0f}, {result['skipped']:.0f} repeated: already open; max per kind (ms): "
           f"{result['worst']}")


if __name__ == "__main__":
    main()
