"""OCPP load benchmark: idle cost, CLI cost, CPU per CSMS request, and a TriggerMessage flood.

The charger is a real `chargepi run` process on the fake HAL (one connector, as systemd starts it); a
minimal CSMS speaking raw OCPP-J frames and the measuring run in this process, so only the charger's own
work is counted and the CSMS costs little. CPU is the charger process's time on CPU (all threads,
/proc/<pid>/task/*/schedstat); wakeups are its context switches (voluntary + involuntary, all threads).

1. **Idle**: connected, registered, no session, --idle-s seconds: CPU ms per minute and wakeups per second.
2. **`chargepi status --json`**: --cli-runs calls against the running charger (after one untimed call, so
   that the bytecode is compiled as on an installed charger): wall time, CPU (user+sys) and peak RSS of
   each CLI process (wait4).
3. **CPU per GetConfiguration (all keys)**: --requests sequential requests from the CSMS, the charger's CPU
   over them divided by their number (a second charger with the CSMS-request rate limit raised, so every
   request is answered rather than refused).
4. **TriggerMessage(Heartbeat) flood**: the CSMS sends triggers back to back for --flood-s seconds, each
   awaited as OCPP requires: how many were accepted or refused (rate limit: CALLERROR), how many
   Heartbeats the charger sent during and after the flood, the worst trigger round trip.

    python -m tools.bench.ocpp_load [--idle-s 60] [--cli-runs 20] [--requests 1000] [--flood-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from tools.bench.ocpp_bench import end, write_config
from tools.bench.report import figure, installed_env

NO_RATE_LIMIT = "\n[ocpp.rate_limit]\nrequests_per_s = 1000000\nburst = 1000000\n"
NOW = "2030-01-01T00:00:00.000Z"
ANSWERS: dict[str, dict[str, Any]] = {
    "BootNotification": {"currentTime": NOW, "interval": 300, "status": "Accepted"},
    "Heartbeat": {"currentTime": NOW},
}
FLOOD_WINDOW = 20  # unanswered triggers the flooding CSMS keeps in flight (it does not wait, as OCPP asks)


class RawCsms:
    """A minimal CSMS speaking raw OCPP-J frames, so that its own cost hardly loads the machine."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.registered = asyncio.Event()
        self._ws: ServerConnection | None = None
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._ids = count()

    async def handler(self, ws: ServerConnection) -> None:
        self._ws = ws
        async for frame in ws:
            msg = json.loads(frame)
            if msg[0] == 2:
                self.received[msg[2]] += 1
                await ws.send(json.dumps([3, msg[1], ANSWERS.get(msg[2], {})]))
                if msg[2] == "StatusNotification":
                    self.registered.set()
            else:
                waiter = self._pending.pop(msg[1], None)
                if waiter is not None:
                    waiter.set_result(msg)

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send one CALL; returns the CALLRESULT or CALLERROR frame."""
        assert self._ws is not None
        unique_id = f"b{next(self._ids)}"
        waiter: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = waiter
        await self._ws.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(waiter, 60)


def cpu_and_switches(pid: int) -> tuple[float, int]:
    """(seconds on CPU, context switches) of every thread of process `pid` so far."""
    cpu_ns = 0
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu_ns += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):  # a thread ended meanwhile
            continue
    return cpu_ns / 1e9, switches


@asynccontextmanager
async def charger(csms: RawCsms, extra_config: str = "") -> AsyncIterator[
        tuple[asyncio.subprocess.Process, Path]]:
    """A registered `chargepi run` process connected to `csms`, and its config file."""
    with tempfile.TemporaryDirectory(prefix="cpbench") as tmp:
        server = await serve(csms.handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        config = write_config(Path(tmp), next(iter(server.sockets)).getsockname()[1], 60)
        config.write_text(config.read_text() + extra_config)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=installed_env(),
        )  # fmt: skip
        try:
            await asyncio.wait_for(csms.registered.wait(), 60)
            await asyncio.sleep(2.0)  # the start-up messages are all answered
            yield proc, config
        finally:
            await end(proc)
            server.close()
            await server.wait_closed()


async def measure_idle(proc: asyncio.subprocess.Process, seconds: float) -> None:
    cpu0, sw0 = cpu_and_switches(proc.pid)
    await asyncio.sleep(seconds)
    cpu1, sw1 = cpu_and_switches(proc.pid)
    figure("idle: charger CPU (connected, no session)", (cpu1 - cpu0) * 1000 / (seconds / 60), "ms/min",
           f"over {seconds:.0f} s")
    figure("idle: charger wakeups (context switches)", (sw1 - sw0) / seconds, "/s", f"over {seconds:.0f} s")


# Run the CLI from a small launcher: a child's peak RSS includes the memory of whatever forked it (Linux
# counts the pre-exec image), so forking from this big process would inflate it.
LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_kib": usage.ru_maxrss, "exit": os.waitstatus_to_exitcode(status)}))
"""


def run_cli(config: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of one `chargepi status --json`."""
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, sys.executable, "-m", "firmware.cli.main",
                           "status", "--json", "--config", str(config)], capture_output=True, text=True,
                          check=True, env=installed_env())
    result = json.loads(done.stdout.splitlines()[-1])
    if result["exit"] != 0:
        raise RuntimeError(f"chargepi status failed (exit {result['exit']})")
    return result["wall"], result["cpu"], result["rss_kib"]


async def measure_cli(config: Path, runs: int) -> None:
    await asyncio.to_thread(run_cli, config)  # warm-up: compiles the CLI's bytecode
    results = [await asyncio.to_thread(run_cli, config) for _ in range(runs)]
    walls = [r[0] * 1000 for r in results]
    cpus = [r[1] * 1000 for r in results]
    rss = [r[2] / 1024 for r in results]
    figure("`chargepi status --json`: wall time (median)", statistics.median(walls), "ms",
           f"min {min(walls):.0f}, max {max(walls):.0f} ms, {runs} runs")
    figure("`chargepi status --json`: CPU (median)", statistics.median(cpus), "ms",
           f"min {min(cpus):.0f}, max {max(cpus):.0f} ms")
    figure("`chargepi status --json`: peak RSS (max)", max(rss), "MiB",
           f"median {statistics.median(rss):.1f} MiB")


async def measure_get_configuration(csms: RawCsms, proc: asyncio.subprocess.Process, requests: int) -> None:
    keys = len((await csms.call("GetConfiguration", {}))[2]["configurationKey"])
    cpu0, _ = cpu_and_switches(proc.pid)
    started = time.perf_counter()
    for _ in range(requests):
        answer = await csms.call("GetConfiguration", {})
        if answer[0] != 3:
            raise RuntimeError(f"GetConfiguration refused: {answer}")
    elapsed = time.perf_counter() - started
    cpu1, _ = cpu_and_switches(proc.pid)
    figure("CPU per GetConfiguration (all keys)", (cpu1 - cpu0) * 1000 / requests, "ms",
           f"{keys} keys, {requests} requests, {requests / elapsed:.0f}/s round trips")


async def measure_trigger_flood(csms: RawCsms, proc: asyncio.subprocess.Process, seconds: float) -> None:
    before = csms.received["Heartbeat"]
    outcomes: Counter[str] = Counter()
    round_trips: list[float] = []
    cpu0, _ = cpu_and_switches(proc.pid)
    deadline = time.perf_counter() + seconds

    async def flooder() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            answer = await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
            round_trips.append(time.perf_counter() - sent)
            outcomes[answer[2]["status"] if answer[0] == 3 else f"CALLERROR {answer[2]}"] += 1

    await asyncio.gather(*(flooder() for _ in range(FLOOD_WINDOW)))
    during = csms.received["Heartbeat"] - before
    cpu1, _ = cpu_and_switches(proc.pid)
    settle = time.perf_counter()
    last = -1
    while csms.received["Heartbeat"] != last and time.perf_counter() - settle < 120:  # owed ones drain
        last = csms.received["Heartbeat"]
        await asyncio.sleep(1.0)
    drained_s = max(time.perf_counter() - settle - 1.0, 0.0)
    after = csms.received["Heartbeat"] - before - during
    ms = sorted(r * 1000 for r in round_trips)
    total = sum(outcomes.values())
    figure("trigger flood: TriggerMessage(Heartbeat) answered", total / seconds, "/s",
           f"{total} in {seconds:.0f} s, {FLOOD_WINDOW} in flight: "
           + ", ".join(f"{n} {what}" for what, n in outcomes.most_common()))
    figure("trigger flood: Heartbeats sent during the flood", during, "messages",
           f"{after} more after it, drained in {drained_s:.0f} s")
    figure("trigger flood: trigger round trip p99", ms[round(0.99 * (len(ms) - 1))], "ms",
           f"p50 {statistics.median(ms):.2f} ms, max {ms[-1]:.1f} ms")
    figure("trigger flood: charger CPU", (cpu1 - cpu0) / seconds * 100, "% of a core")


async def main(args: argparse.Namespace) -> None:
    csms = RawCsms()
    async with charger(csms) as (proc, config):
        await measure_cli(config, args.cli_runs)
        await measure_idle(proc, args.idle_s)
        await measure_trigger_flood(csms, proc, args.flood_s)
    csms = RawCsms()
    async with charger(csms, NO_RATE_LIMIT) as (proc, _):
        await measure_get_configuration(csms, proc, args.requests)


def run() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.ocpp_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--flood-s", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
