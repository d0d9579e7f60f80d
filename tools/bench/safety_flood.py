"""Safety reaction under load: CP and fault events while the controller is flooded over OCPP.

The real controller process (`Application`, real clock) connects to a real websocket CSMS (tools.csms, in
this process) that keeps it flooded with TriggerMessage(Heartbeat/MeterValues), GetConfiguration and
SetChargingProfile calls; its Modbus meter sits on a TCP server that never answers (every poll is a bus
timeout), and a thread in the controller writes and fsyncs to its state directory all the time.

Meanwhile events (EV C->B, unplug, RCD trip, emergency stop, in turn) are injected in the process that
owns the safety lines, and the time from each event to the contactor's open() call is taken:

* `inline`: the interlock in the controller process (before the safety supervisor);
* `process`: the safety supervisor process (firmware.safety).

for the fake HAL (the simulated world lives in the controller process; with `process` the open is the
supervisor's command to it) and for the GPIO drivers on gpiozero mock pins (the mocked board lives where
the drivers run: in the controller with `inline`, in the supervisor with `process`; the path includes the
CP sampler's burst and confirmation). Reported per condition: p50 / p99 / max and the events over 100 ms.

    python -m tools.bench.safety_flood [--events 1000] [--conditions fake-process,gpio-process,...]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import io
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CONDITIONS = ("fake-inline", "fake-process", "gpio-inline", "gpio-process")
LIMIT_MS = 100.0
FLOOD_CONCURRENCY = 4


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the controller process --------------------------------------------------------------------------
def child_settings(hal: str, mode: str, state_dir: Path, csms_url: str, meter_port: int) -> Any:
    from firmware.settings import load_settings
    from tools.bench._flood_rig import BoardRig

    meter = {"driver": "modbus-tcp", "host": "127.0.0.1", "port": meter_port, "model": "sdm630",
             "timeout_s": 0.3, "retries": 0}
    if hal == "fake":
        # Tethered, as the GPIO board: with a socket, each unplug drops the PP cable limit to 0 while the
        # PWM is on, and the product then waits MIN_PAUSE_S (10 s) before offering again on the next plug.
        connector: dict[str, Any] = {"id": 1, "cable": "tethered", "hal": {"meter": meter}}
        estop: dict[str, Any] = {"driver": "fake"}
    else:
        connector = {"id": 1, "cable": "tethered", "hal": {**BoardRig.hal_config(6), "meter": meter}}
        estop = BoardRig.estop_config()
    return load_settings(
        None, station={"state_dir": str(state_dir), "supervisor": mode, "free_charging": True,
                       "log_level": "ERROR",  # thousands of injected faults are logged by the supervisor
                       "hal": {"emergency_stop": estop}},
        connectors=[connector], ocpp={"url": csms_url, "charge_point_id": "CP_1"})


def disk_writer(directory: Path, stop: threading.Event) -> None:
    """A slow SD card's worth of disk traffic in the controller: 64 KiB writes, each fsynced."""
    path = directory / "disk-load.bin"
    block = os.urandom(65536)
    with path.open("wb") as out:
        while not stop.is_set():
            out.write(block)
            out.flush()
            os.fsync(out.fileno())
            if out.tell() > 16 * 1024 * 1024:
                out.seek(0)


class SimActuator:
    """The simulated car and inputs (fake HAL): the injector runs in the controller process."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.sim = app.simulation.connectors[0]
        self.estop = app.simulation.emergency_stop
        self.controller = app.station.connector(1)
        self.recent: list[tuple[float, str]] = []
        app.station.subscribe(self._record)

    def _record(self, event: Any) -> None:
        what = getattr(event, "status", getattr(event, "cp_state", getattr(event, "closed", "")))
        self.recent.append((time.monotonic(), f"{type(event).__name__}:{what}"))

    def closed(self) -> bool:
        return bool(self.sim.contactor.commanded_closed)

    def describe(self) -> str:
        now = time.monotonic()
        history = [(round(t - now, 3), o.mode.value) for t, o in self.sim.pilot.history[-8:]]
        events = [(round(t - now, 3), e) for t, e in self.recent[-25:] if "Meter" not in e]
        return f"{self.controller.interlock.last_open_reason}: {history} {events}"

    def trigger(self, kind: str) -> None:
        if kind == "cp-c-to-b":
            self.sim.pause()
        elif kind == "unplug":
            self.sim.unplug()
        elif kind == "rcd-trip":
            self.sim.inject("rcd")
        else:
            self.estop.set(True)

    def _on_loop(self, fn: Any) -> Any:
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except Exception as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout=60)

    def restore(self, kind: str) -> None:
        from firmware.core.connector import FaultPersists
        from firmware.core.vocabulary import ConnectorState, Fault
        from tools.bench._flood_rig import retry_until_done, wait_until

        if kind == "cp-c-to-b":
            self.sim.resume()
        elif kind == "unplug":
            self.sim.plug()
        elif kind == "rcd-trip":  # the monitor resets; the technician clears the latch
            self.sim.clear("rcd")
            rcm = self.app.hardware.connectors[0].rcm
            # The trip first (latched), then the reset: with the supervisor both reach the controller
            # over the link, after the trigger; clearing before the trip arrived would clear nothing.
            wait_until(lambda: Fault.RCD_TRIP in self.controller.faults and not rcm.tripped,
                       "the trip and the RCM reset to reach the controller")
            retry_until_done(lambda: self._on_loop(lambda: self.controller.clear_fault(Fault.RCD_TRIP)),
                             FaultPersists)
        else:  # an emergency stop ends the session: the driver unplugs and plugs in again
            self.estop.set(False)
            # Only once the pilot is back at +12 V can the controller see the car again (under F it
            # cannot see an unplug at all): wait for the car, then for the unplug, then plug in.
            wait_until(lambda: self.controller.state is not ConnectorState.FAULTED
                       and self.controller.cp.value in ("B", "C"),
                       lambda: f"the e-stop released, the car seen again: {self.describe()}")
            self.sim.unplug()
            wait_until(lambda: self.controller.state is ConnectorState.AVAILABLE
                       and self.controller.cp.value == "A", "Available after unplug")
            self.sim.plug()


async def child_main(args: argparse.Namespace) -> None:
    from firmware.app import Application
    from tools.bench._flood_rig import (
        BoardActuator,
        BoardRig,
        OpenClock,
        inject,
        record_open_reasons,
        wait_until,
    )

    hal, mode = args.child.split("-")
    state_dir = Path(tempfile.mkdtemp(prefix="cpflood"))
    supervisor_results = state_dir / "supervisor-results.json"
    rig = BoardRig() if hal == "gpio" and mode == "inline" else None
    reasons = record_open_reasons()  # inline: the interlock runs here
    if mode == "process":
        import firmware.safety.process

        firmware.safety.process.SUPERVISOR_MODULE = "tools.bench._flood_supervisor"
        os.environ.update(FLOOD_RESULTS=str(supervisor_results), FLOOD_EVENTS=str(args.events),
                          FLOOD_RIG="1" if hal == "gpio" else "0")
    settings = child_settings(hal, mode, state_dir, args.csms, args.meter_port)
    os.environ["FLOOD_SOCKET"] = str(settings.station.socket_path)
    app = Application(settings)
    loop = asyncio.get_running_loop()
    stop_disk = threading.Event()
    threading.Thread(target=disk_writer, args=(state_dir, stop_disk), daemon=True).start()
    opens = OpenClock()
    triggered: list[tuple[str, float]] = []
    skipped: list[int] = []
    if hal == "fake":
        sim = app.simulation.connectors[0]  # type: ignore[union-attr]
        sim._world.ev.reaction_s = 0.0  # only shortens the restore phase, not the measured path
        if mode == "inline":
            opens.wrap(sim.contactor)
    elif rig is not None:
        rig.attach_pilot(app.hardware.connectors[0].pilot)
        opens.wrap(app.hardware.connectors[0].contactor)
    await app.start()
    try:
        if hal == "fake":
            actuator = SimActuator(app, loop)
            sim.plug()
            if mode == "inline":
                triggered = await asyncio.to_thread(inject, actuator, args.events, opens, skipped)
            else:  # the open is timed in the supervisor; here we see it when the world applies it
                seen = OpenClock()
                seen.wrap(sim.contactor)
                triggered = await asyncio.to_thread(inject, actuator, args.events, seen, skipped)
        elif rig is not None:
            def clear_rcd(fault: str) -> None:
                from firmware.core.vocabulary import Fault
                asyncio.run_coroutine_threadsafe(_clear(app, Fault(fault)), loop).result(60)

            controller = app.station.connector(1)
            actuator_board = BoardActuator(rig, app.hardware.connectors[0].contactor, controller.describe,
                                           clear_rcd)
            await asyncio.to_thread(actuator_board.plug_in)
            triggered = await asyncio.to_thread(inject, actuator_board, args.events, opens, skipped)
        else:  # gpio-process: the board and the injector are in the supervisor; wait for its results
            await asyncio.to_thread(wait_until, supervisor_results.exists, "the supervisor's injector",
                                    3600.0)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; controller: {app.station.connector(1).describe()}") from None
    finally:
        stop_disk.set()
        await app.stop()
    save(Path(args.out), mode, hal, supervisor_results, triggered, opens, sum(skipped), reasons)


def save(out: Path, mode: str, hal: str, supervisor_results: Path, triggered: list[tuple[str, float]],
         opens: Any, skipped: int, reasons: list[tuple[float, str]]) -> None:
    from tools.bench._flood_rig import write_results

    if mode == "process":
        done = json.loads(supervisor_results.read_text())
        if done.get("error"):
            raise RuntimeError(f"the injector in the supervisor failed: {done['error']}")
        if hal == "fake":  # the triggers from here, the opens as the supervisor commanded them
            write_results(out, triggered, done["opened_at"], skipped, done["reasons"])
        else:
            out.write_text(json.dumps(done))
    else:
        write_results(out, triggered, opens.opened_at, skipped, reasons)


async def _clear(app: Any, fault: Any) -> None:
    from firmware.core.connector import FaultPersists

    for _ in range(3000):
        try:
            app.station.clear_fault(1, fault)
            return
        except FaultPersists:
            await asyncio.sleep(0.01)
    raise TimeoutError("the RCM reset did not reach the controller")


# --- the orchestrator: CSMS, flood, silent meter -----------------------------------------------------
async def flood(csms: Any, stop: asyncio.Event, counts: dict[str, int]) -> None:
    from ocpp.v16 import call

    profile = {"chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute", "chargingSchedule": {
                   "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}}
    calls: Any = itertools.cycle([
        ("TriggerMessage", lambda: call.TriggerMessage(requested_message="Heartbeat")),
        ("GetConfiguration", lambda: call.GetConfiguration()),
        ("SetChargingProfile", lambda: call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)),
        ("TriggerMessage", lambda: call.TriggerMessage(requested_message="MeterValues", connector_id=1)),
    ])
    while not stop.is_set():
        name, make = next(calls)
        try:
            await csms.call("CP_1", make())
            counts[name] = counts.get(name, 0) + 1
        except Exception:  # reconnecting, or a CALLERROR: the flood goes on
            counts["errors"] = counts.get("errors", 0) + 1
            await asyncio.sleep(0.01)


async def silent_meter() -> tuple[asyncio.Server, int]:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def run_condition(condition: str, events: int, csms: Any, meter_port: int) -> dict[str, Any]:
    from tools.bench._flood_rig import attributed

    out = Path(tempfile.mkdtemp(prefix="cpfloodout")) / "result.json"
    child = await asyncio.create_subprocess_exec(
        # A few more than asked: an event that finds the contactor already opened by something else
        # measures nothing (tools.bench._flood_rig.attributed), and at least `events` must be measured.
        sys.executable, "-m", "tools.bench.safety_flood", "--child", condition,
        "--events", str(events + max(3, events // 5)),
        "--csms", csms.url, "--meter-port", str(meter_port), "--out", str(out))
    await csms.wait_connected("CP_1", timeout=120)
    stop = asyncio.Event()
    counts: dict[str, int] = {}
    started = time.perf_counter()
    flooders = [asyncio.create_task(flood(csms, stop, counts)) for _ in range(FLOOD_CONCURRENCY)]
    code = await child.wait()
    wall = time.perf_counter() - started
    stop.set()
    for task in flooders:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await csms.wait_disconnected("CP_1", timeout=10)
    if code != 0:
        raise RuntimeError(f"{condition}: the controller process exited with {code}")
    data = json.loads(out.read_text())
    by_kind, unmeasured = attributed([(k, t) for k, t in data["triggered"]],
                                     [(t, r) for t, r in data["reasons"]])
    ms = [v * 1000 for values in by_kind.values() for v in values]
    if len(ms) < events:
        raise RuntimeError(f"{condition}: only {len(ms)} events had a measured open ({unmeasured} found "
                           f"the contactor already open)")
    return {"condition": condition, "events": len(ms), "p50": statistics.median(ms),
            "p99": percentile(ms, 99), "max": max(ms), "over": sum(v > LIMIT_MS for v in ms),
            "calls": sum(v for k, v in counts.items() if k != "errors"), "wall_s": wall,
            "skipped": int(data.get("skipped", 0)) + unmeasured,
            "watchdog": sum(r == "controller-watchdog" for _, r in data["reasons"]),
            "by_kind": {k: max(v) * 1000 for k, v in by_kind.items()}}


async def orchestrate(events: int, conditions: list[str]) -> list[dict[str, Any]]:
    from tools.csms.server import DevCsms

    meter, meter_port = await silent_meter()
    results = []
    csms = DevCsms(host="127.0.0.1", port=0, log_stream=_Discard(), heartbeat_interval=300)
    await csms.start()
    try:
        for condition in conditions:
            try:
                result = await run_condition(condition, events, csms, meter_port)
            except Exception as exc:  # the other conditions still run; the module fails at the end
                print(f"  {condition}: FAILED: {str(exc)[:300]}", flush=True)
                results.append({"condition": condition, "failed": True})
                continue
            report(result)
            results.append(result)
    finally:
        await csms.stop()
        meter.close()
    return results


class _Discard(io.StringIO):
    """The CSMS's frame log, thrown away (hundreds of thousands of lines)."""

    def write(self, text: str) -> int:
        return len(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1000,
                        help="events per condition (default 1000: the documented figures; in supervisor mode "
                             "a condition takes well under a minute)")
    parser.add_argument("--conditions", default="fake-process,gpio-process",
                        help=f"comma-separated, from: {', '.join(CONDITIONS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csms", help=argparse.SUPPRESS)
    parser.add_argument("--meter-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # thousands of injected faults would flood the terminal
    from firmware.logging_setup import QUIET_LIBRARIES

    for name, level in QUIET_LIBRARIES.items():  # as the product runs (pymodbus logs silent polls at ERROR)
        logging.getLogger(name).setLevel(level)
    if args.child:
        asyncio.run(child_main(args))
        return 0
    conditions = [c for c in args.conditions.split(",") if c]
    print(f"safety reaction under an OCPP flood ({FLOOD_CONCURRENCY} calls in flight), a silent meter bus "
          f"and fsync traffic, {args.events} events per condition:", flush=True)
    results = asyncio.run(orchestrate(args.events, conditions))
    return 1 if any(r.get("failed") for r in results) else 0


def report(r: dict[str, Any]) -> None:
    from tools.bench.report import figure

    figure(f"safety flood {r['condition']} p99", r["p99"], "ms",
           f"p50 {r['p50']:.2f} ms, max {r['max']:.2f} ms, {r['over']} over {LIMIT_MS:.0f} ms, "
           f"n={r['events']} ({r['skipped']} not measured: already open), "
           f"{r['watchdog']} watchdog opens, {r['calls']} CSMS calls answered "
           f"in {r['wall_s']:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
