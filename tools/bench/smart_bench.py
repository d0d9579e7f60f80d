"""Smart-charging latency: from a SetChargingProfile frame arriving at the charger to the new PWM duty.

Runs the real controller (core + smart charging) on the fake HAL, with a real OCPP 1.6 CSMS (the `ocpp`
library's server side) on a loopback websocket. The CSMS sends >= 1,000 lowering TxProfiles (random
limits 6.0-31.0 A; every tenth one is `limit 0`, a pause). Measured per change:
* received -> PWM: the frame entering the charger's route_message -> the pilot's set_output with the new
  duty (or PWM off). This includes JSON parsing, schema validation, the handler, the engine, the
  arbiter and the state machine.
* CSMS -> PWM: from the CSMS's call() (serialisation, its own validation, the socket) to the same point.
Between measured changes the limit is raised again and the (simulated) clock moved past the core's raise
rate limit / minimum pause, untimed. Raising is rate-limited by design (one step per 5 s), so only
lowering is the target (p99 <= 100 ms).

    python -m tools.bench.smart_bench [--changes 1000] [--inline-validation]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ocpp.messages
from ocpp.v16 import ChargePoint, call

from firmware.app import Application
from firmware.clock import SimClock
from firmware.ocpp.v16.smart_charging import SmartChargingHandlers
from firmware.settings import load_settings
from hal.types import PilotOutput, PilotOutputMode
from tools.bench.ocpp_loopback import csms_and_charger
from tools.bench.report import figure


class BenchChargePoint(SmartChargingHandlers, ChargePoint):  # type: ignore[misc]
    station: Any
    received_at: float = 0.0

    def active_transaction_id(self, connector_id: int) -> int | None:
        return 1 if self.station.session_of(connector_id) else None

    async def route_message(self, raw_msg: str) -> None:
        self.received_at = time.perf_counter()
        await super().route_message(raw_msg)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def tx_profile(limit: float) -> dict[str, Any]:
    return {"charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A",
                                  "charging_schedule_period": [{"start_period": 0, "limit": limit}]}}


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": statistics.median(ms), "p99": percentile(ms, 99), "max": max(ms)}


async def run(changes: int) -> dict[str, dict[str, float]]:
    state_dir = Path(tempfile.mkdtemp(prefix="cpbench"))
    settings = load_settings(None, station={"state_dir": str(state_dir)}, connectors=[{"id": 1}],
                             smart_charging={"min_pause_s": 0})
    clock = SimClock()
    app = Application(settings, clock=clock)
    assert app.simulation is not None
    connector = app.simulation.connectors[0]
    outputs: list[tuple[float, PilotOutput]] = []
    real_set_output = connector.pilot.set_output

    def timed_set_output(output: PilotOutput) -> None:
        outputs.append((time.perf_counter(), output))
        real_set_output(output)

    connector.pilot.set_output = timed_set_output  # type: ignore[method-assign]
    await app.start()
    connector.plug()
    await clock.advance(15)
    rng = random.Random(1516)
    received: list[float] = []
    end_to_end: list[float] = []
    async with csms_and_charger(BenchChargePoint, smart_charging=app.smart_charging,
                                station=app.station) as (csms, cp):
        for i in range(changes):
            limit = 0.0 if i % 10 == 9 else rng.randint(60, 310) / 10
            outputs.clear()
            sent = time.perf_counter()
            result = await csms.call(call.SetChargingProfile(connector_id=1,
                                                             cs_charging_profiles=tx_profile(limit)),
                                     suppress=False)
            if result.status != "Accepted":
                raise RuntimeError(f"profile {limit} A rejected")
            changed = [t for t, out in outputs if (out.mode != PilotOutputMode.PWM) == (limit == 0)]
            if not changed:
                raise RuntimeError(f"limit {limit} A: the PWM did not change ({outputs})")
            received.append(changed[0] - cp.received_at)
            end_to_end.append(changed[0] - sent)
            # Untimed: back to 32 A, past the core's minimum pause and raise interval.
            await csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile(32)),
                            suppress=False)
            await clock.advance(12 if limit == 0 else 6)
            if connector.pilot.output.mode != PilotOutputMode.PWM:
                raise RuntimeError("the charger did not resume")
    await app.stop()
    return {"received_to_pwm": summary(received), "csms_to_pwm": summary(end_to_end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--inline-validation", action="store_true",
                        help="validate OCPP schemas on the loop (ocpp.messages.ASYNC_VALIDATION = False)")
    args = parser.parse_args()
    if args.inline_validation:
        ocpp.messages.ASYNC_VALIDATION = False
    result = asyncio.run(run(args.changes))
    mode = "inline" if args.inline_validation else "thread-pool"
    print(f"SetChargingProfile -> PWM duty over {args.changes} lowering changes "
          f"(schema validation: {mode}):")
    for name, label in (("received_to_pwm", "frame received -> PWM"), ("csms_to_pwm", "CSMS call -> PWM")):
        r = result[name]
        figure(f"SetChargingProfile {label} p50 ({mode} validation)", r["p50"], "ms",
               f"p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms, n={r['n']:.0f}")


if __name__ == "__main__":
    main()
