"""Smart-charging latency: from a SetChargingProfile frame arriving at the charger to the new PWM duty.

Runs the real charger (the Application: core, smart charging and the OCPP adapter with its charge point)
on the fake HAL and simulated time, connected to the development CSMS (the `ocpp` library's server side)
on a loopback websocket. The CSMS sends >= 1,000 lowering TxProfiles (random limits 6.0-31.0 A; every
tenth one is `limit 0`, a pause). Measured per change:
* received -> PWM: the frame entering the charger's route_message -> the pilot's set_output with the new
  duty (or PWM off). This includes JSON parsing, schema validation, the handler, the engine, the
  arbiter and the state machine.
* CSMS -> PWM: from the CSMS's call() (serialisation, its own validation, the socket) to the same point.
Between measured changes the limit is raised again and the (simulated) clock moved past the core's raise
rate limit / minimum pause, untimed. Raising is rate-limited by design (one step per 5 s), so only
lowering is the target (p99 <= 100 ms). It runs for OCPP 1.6 and 2.0.1 (the same neutral engine under two
protocol adapters; `--ocpp` picks one).

    python -m tools.bench.smart_bench [--changes 1000] [--thread-pool-validation] [--ocpp 1.6|2.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call
from ocpp.v201 import call as call_201

from firmware.app import Application
from firmware.ocpp.common import ocpp_internals
from firmware.ocpp.common.framing import OcppJFraming
from firmware.ocpp.v16.adapter import OcppAdapter
from firmware.ocpp.v201.adapter import Adapter201
from firmware.settings import load_settings
from hal.clock import SimClock
from hal.types import PilotOutput, PilotOutputMode
from tools.bench.report import figure
from tools.csms import DevCsms

CP_ID = "SMART-1"
VERSIONS = ("1.6", "2.0.1")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def tx_profile(limit: float) -> dict[str, Any]:
    return {"charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A",
                                  "charging_schedule_period": [{"start_period": 0, "limit": limit}]}}


def request(version: str, limit: float, transaction_id: str | int) -> Any:
    """The SetChargingProfile of `version` limiting the running transaction to `limit` A."""
    if version == "1.6":
        return call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile(limit))
    return call_201.SetChargingProfile(evse_id=1, charging_profile={
        "id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative", "transaction_id": transaction_id,
        "charging_schedule": [{"id": 1, "charging_rate_unit": "A",
                               "charging_schedule_period": [{"start_period": 0, "limit": limit}]}]})


def transaction_of(app: Application) -> str | int | None:
    """The OCPP transaction id running on connector 1, as the CSMS knows it."""
    adapter = app.ocpp
    if isinstance(adapter, OcppAdapter):
        return adapter.active_transaction_id(1)
    assert isinstance(adapter, Adapter201)
    return adapter.transactions.transaction_on(1)


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": statistics.median(ms), "p99": percentile(ms, 99), "max": max(ms)}


async def advance_until(clock: SimClock, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the charger did not get there in time")
        await clock.advance(0.1)
        await asyncio.sleep(0.005)


async def run(changes: int, thread_pool_validation: bool, version: str) -> dict[str, dict[str, float]]:
    received_at = [0.0]
    real_route = OcppJFraming.route_message  # both versions' charge points frame through it

    async def timed_route(self: OcppJFraming, raw_msg: str | bytes) -> None:
        received_at[0] = time.perf_counter()
        await real_route(self, raw_msg)

    OcppJFraming.route_message = timed_route  # type: ignore[method-assign]
    state_dir = Path(tempfile.mkdtemp(prefix="cpbench"))
    async with DevCsms(log_stream=None) as csms:
        settings = load_settings(None, station={"state_dir": str(state_dir), "free_charging": True},
                                 connectors=[{"id": 1}], smart_charging={"min_pause_s": 0},
                                 ocpp={"url": csms.url, "charge_point_id": CP_ID, "ping_interval_s": 0,
                                       "version": version})
        clock = SimClock()
        app = Application(settings, clock=clock)
        assert app.simulation is not None and app.ocpp is not None
        connector = app.simulation.connectors[0]
        outputs: list[tuple[float, PilotOutput]] = []
        real_set_output = connector.pilot.set_output

        def timed_set_output(output: PilotOutput) -> None:
            outputs.append((time.perf_counter(), output))
            real_set_output(output)

        connector.pilot.set_output = timed_set_output  # type: ignore[method-assign]
        if thread_pool_validation:  # after the adapter module set it inline
            ocpp_internals.validate_in_thread_pool(True)
        await app.start()
        await advance_until(clock, lambda: app.station.snapshot()["ocpp"]["registration"] == "Accepted")
        connector.plug()
        await advance_until(clock, lambda: transaction_of(app) is not None)
        transaction_id = transaction_of(app)
        assert transaction_id is not None
        rng = random.Random(1516)
        received: list[float] = []
        end_to_end: list[float] = []
        for i in range(changes):
            limit = 0.0 if i % 10 == 9 else rng.randint(60, 310) / 10
            outputs.clear()
            sent = time.perf_counter()
            result = await csms.call(CP_ID, request(version, limit, transaction_id))
            if result.status != "Accepted":
                raise RuntimeError(f"profile {limit} A rejected")
            changed = [t for t, out in outputs if (out.mode != PilotOutputMode.PWM) == (limit == 0)]
            if not changed:
                raise RuntimeError(f"limit {limit} A: the PWM did not change ({outputs})")
            received.append(changed[0] - received_at[0])
            end_to_end.append(changed[0] - sent)
            # Untimed: back to 32 A, past the core's minimum pause and raise interval.
            await csms.call(CP_ID, request(version, 32, transaction_id))
            await clock.advance(12 if limit == 0 else 6)
            if connector.pilot.output.mode != PilotOutputMode.PWM:
                raise RuntimeError("the charger did not resume")
        await app.stop()
    return {"received_to_pwm": summary(received), "csms_to_pwm": summary(end_to_end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--thread-pool-validation", action="store_true",
                        help="validate OCPP schemas in the thread pool (the library's default;\n"
                             "the charger sets ocpp.messages.ASYNC_VALIDATION = False)")
    parser.add_argument("--ocpp", choices=VERSIONS, help="only this OCPP version (default: both)")
    args = parser.parse_args()
    mode = "thread-pool" if args.thread_pool_validation else "inline"
    for version in [args.ocpp] if args.ocpp else VERSIONS:
        result = asyncio.run(run(args.changes, args.thread_pool_validation, version))
        print(f"OCPP {version} SetChargingProfile -> PWM duty over {args.changes} lowering changes "
              f"(schema validation: {mode}):")
        for name, label in (("received_to_pwm", "frame received -> PWM"),
                            ("csms_to_pwm", "CSMS call -> PWM")):
            r = result[name]
            figure(f"OCPP {version} SetChargingProfile {label} p50 ({mode} validation)", r["p50"], "ms",
                   f"p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms, n={r['n']:.0f}")


if __name__ == "__main__":
    main()
