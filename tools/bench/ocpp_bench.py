"""OCPP benchmark: start-up to BootNotification, memory after an hour of charging, message throughput.

The charger runs in its own process (the real Application on the fake HAL); the development CSMS runs in
this process, so neither skews the other's figures.

1. **Start to boot**: from spawning `chargepi run` (the same entry point systemd starts) to the dev CSMS
   receiving its BootNotification, real time and the charger's CPU time, median of --boot-runs after an
   untimed warm-up run (with compiled bytecode, as on an installed charger).
2. **RSS after one hour of charging**: a charger process on simulated time charges for one simulated hour
   at MeterValueSampleInterval=60 with four measurands, connected to the CSMS; its resident set size
   (VmRSS) after boot and after the hour, and its peak (VmHWM).
3. **Messages per second**: the charger charges offline for --drain-seconds simulated seconds with
   MeterValueSampleInterval=1, so that many MeterValues (and the Start/StopTransaction) wait in its durable
   outbox; then the CSMS comes up and the rate at which the charger delivers them after its
   BootNotification (each a CALL answered by the CSMS, one at a time as OCPP requires, each removed from
   SQLite when confirmed) is measured.

Start to boot and the RSS are measured for OCPP 1.6 and 2.0.1 (`--ocpp` picks one; 2.0.1 samples with
SampledDataCtrlr.TxUpdatedInterval/TxUpdatedMeasurands and counts TransactionEvents); the drain figure is
1.6's.

    python -m tools.bench.ocpp_bench [--boot-runs 5] [--drain-seconds 2000] [--only boot soak drain]
                                     [--ocpp 1.6|2.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.app import Application
from firmware.settings import load_settings
from hal.clock import SimClock
from tools.bench.report import figure, installed_env
from tools.csms import DevCsms

CP_ID = "BENCH-1"
TAG = "BENCH-TAG"
PARTS = ("boot", "soak", "drain")
VERSIONS = ("1.6", "2.0.1")
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sampling(version: str, sample_interval: int) -> str:
    """The `[ocpp]` keys that set how often and what the charger samples in a transaction."""
    if version == "1.6":
        return f"""
[ocpp.configuration]
MeterValueSampleInterval = {sample_interval}
MeterValuesSampledData = "{MEASURANDS}"
"""
    return f"""version = "2.0.1"

[ocpp.device_model]
"SampledDataCtrlr.TxUpdatedInterval" = {sample_interval}
"SampledDataCtrlr.TxUpdatedMeasurands" = "{MEASURANDS}"
"""


def write_config(directory: Path, port: int, sample_interval: int, version: str = "1.6") -> Path:
    path = directory / "chargepi.toml"
    path.write_text(
        f"""
[station]
state_dir = "{directory / "state"}"
free_charging = true
log_level = "WARNING"

[[connectors]]
id = 1

[ocpp]
url = "ws://127.0.0.1:{port}"
charge_point_id = "{CP_ID}"
reconnect_min_s = 1
reconnect_max_s = 2
ping_interval_s = 0
{sampling(version, sample_interval)}"""
    )
    return path


def rss_kib() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


# --- the charger side (a child process on simulated time) ----------------------------------------------


async def advance_until(clock: SimClock, condition: Callable[[], bool], within: float = 120.0) -> None:
    """Move simulated time in small steps, letting real network I/O happen, until `condition()` holds.
    The condition is checked every 10 ms of real time only, so that checking it costs the charger little."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the charger did not get there in time")
        await clock.advance(0.05)
        await asyncio.sleep(0.01)


def ocpp_status(app: Application) -> dict[str, Any]:
    """The `ocpp` section of the status document (what `chargepi status` shows)."""
    section: dict[str, Any] = app.station.snapshot()["ocpp"]
    return section


async def child(mode: str, config: Path, seconds: int) -> None:
    """Charge on simulated time; print one JSON line with the result for the parent."""
    logging.basicConfig(level=logging.ERROR)  # the link's reconnect warnings are expected while offline
    clock = SimClock()
    app = Application(load_settings(config), clock=clock)
    assert app.simulation is not None
    car = app.simulation.connector(1)
    await app.start()
    try:
        if mode == "soak":
            await advance_until(clock, lambda: ocpp_status(app)["registration"] == "Accepted")
            before = rss_kib()
            car.plug()
            for _ in range(seconds):
                await clock.advance(1.0)
                await asyncio.sleep(0)
            await advance_until(clock, lambda: ocpp_status(app)["queue_depth"] == 0)
            print(json.dumps({"before": before, "after": rss_kib()}), flush=True)
        else:  # drain: charge offline (no CSMS yet), stop, then deliver everything once the CSMS is up
            car.plug()
            for _ in range(seconds):
                await clock.advance(1.0)
            session = app.station.connector(1).session
            assert session is not None and app.ocpp is not None
            car.unplug()
            await clock.advance(5.0)
            outbox = app.ocpp.outbox
            # The session's own rows: the durable queue also holds security events
            # (SecurityEventNotification), which are not transaction messages.
            print(json.dumps({"queued": outbox.durable_depth(session.session_id)}), flush=True)
            await advance_until(clock, lambda: outbox.depth() == 0, within=600.0)
    finally:
        await app.stop()


# --- the CSMS side (this process) ---------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """Seconds on CPU of every thread of process `pid` so far (/proc/<pid>/task/*/schedstat)."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread ended meanwhile
            total_ns += int((task / "schedstat").read_text().split()[0])
    return total_ns / 1e9


async def measure_boot(runs: int, version: str) -> tuple[list[float], list[float]]:
    """Real time and the charger's CPU time from spawning `chargepi run` to the BootNotification."""
    times, cpu = [], []
    for run in range(runs + 1):  # the first run only warms up (compiles the bytecode)
        async with DevCsms(log_stream=None) as csms:
            with tempfile.TemporaryDirectory(prefix="cpbench") as tmp:
                config = write_config(Path(tmp), csms.port, 60, version)
                started = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=installed_env(),
                )  # fmt: skip
                try:
                    await csms.wait_for("BootNotification", timeout=60)
                    if run > 0:
                        times.append(time.perf_counter() - started)
                        cpu.append(cpu_s(proc.pid))
                finally:
                    await end(proc)
    return times, cpu


async def end(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
        proc.terminate()
    await proc.wait()


async def spawn_child(mode: str, config: Path, seconds: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.bench.ocpp_bench", "--child", mode, str(config), str(seconds),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip


async def read_json(proc: asyncio.subprocess.Process, within: float) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), within)
    if not line:
        raise RuntimeError(f"charger process ended early (exit {await proc.wait()})")
    result: dict[str, Any] = json.loads(line)
    return result


async def measure_soak(version: str) -> dict[str, Any]:
    async with DevCsms(log_stream=None) as csms:
        with tempfile.TemporaryDirectory(prefix="cpbench") as tmp:
            proc = await spawn_child("soak", write_config(Path(tmp), csms.port, 60, version), 3600)
            try:
                result = await read_json(proc, 600)
            finally:
                await end(proc)
        result["meter_values"] = csms.count("MeterValues" if version == "1.6" else "TransactionEvent")
    return result


async def measure_drain(seconds: int) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cpbench") as tmp:
        proc = await spawn_child("drain", write_config(Path(tmp), port, 1), seconds)
        try:
            queued = (await read_json(proc, 600))["queued"]
            async with DevCsms(port=port, log_stream=None) as csms:
                await csms.wait_for("StartTransaction", timeout=120)
                started = time.perf_counter()  # the first queued message arrived
                await csms.wait_for("StopTransaction", timeout=600)
                elapsed = time.perf_counter() - started
                meter_values = csms.count("MeterValues")
                delivered = csms.count("StartTransaction") + meter_values + csms.count("StopTransaction")
        finally:
            await end(proc)
    if delivered != queued:  # a broken run must not print a rate
        raise RuntimeError(f"the charger queued {queued} transaction messages but delivered {delivered}")
    return {
        "queued": queued,
        "messages": delivered,
        "meter_values": meter_values,
        "seconds": elapsed,
        "per_second": (delivered - 1) / elapsed,  # those after the first, in the time since it
    }


async def main(args: argparse.Namespace) -> None:
    parts = args.only or PARTS
    versions = [args.ocpp] if args.ocpp else VERSIONS
    for version in versions if "boot" in parts else ():
        boot, cpu = await measure_boot(args.boot_runs, version)
        figure(f"OCPP {version} start -> BootNotification received (median)", statistics.median(boot) * 1000,
               "ms", f"min {min(boot) * 1000:.0f}, max {max(boot) * 1000:.0f} ms, {len(boot)} runs")
        figure(f"OCPP {version} start -> BootNotification: charger CPU (median)",
               statistics.median(cpu) * 1000, "ms",
               f"min {min(cpu) * 1000:.0f}, max {max(cpu) * 1000:.0f} ms")
    for version in versions if "soak" in parts else ():
        soak = await measure_soak(version)
        sent = "MeterValues" if version == "1.6" else "TransactionEvents"
        figure(f"OCPP {version} RSS after boot", soak["before"]["VmRSS"] / 1024, "MiB")
        figure(f"OCPP {version} RSS after 1 h simulated charging", soak["after"]["VmRSS"] / 1024, "MiB",
               f"peak {soak['after']['VmHWM'] / 1024:.1f} MiB, {soak['meter_values']} {sent} sent")
    if "drain" in parts:
        drain = await measure_drain(args.drain_seconds)
        figure("outbox drain after an outage", drain["per_second"], "messages/s",
               f"{drain['messages']} transaction messages ({drain['meter_values']} MeterValues) in "
               f"{drain['seconds']:.2f} s")


def run() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.ocpp_bench", description=__doc__)
    parser.add_argument("--boot-runs", type=int, default=5)
    parser.add_argument(
        "--drain-seconds",
        type=int,
        default=2000,
        help="simulated seconds of offline charging at one MeterValues per second",
    )
    parser.add_argument("--only", nargs="+", choices=PARTS, help="measure only these parts")
    parser.add_argument("--ocpp", choices=VERSIONS, help="boot and soak for this OCPP version only")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CONFIG", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, config, seconds = args.child
        asyncio.run(child(mode, Path(config), int(seconds)))
    else:
        asyncio.run(main(args))
    return 0


if __name__ == "__main__":
    sys.exit(run())
