"""Benchmark: a 24-hour OCPP outage during a session, then the drain of the persistent outbox.

Runs the real Application on the fake HAL with a SimClock and a loopback CSMS (the `ocpp` library's
server side). Reports how many transaction messages the outage queued, the size of the state database,
and how fast the queue is delivered once the CSMS is back (messages per second, each one schema-checked
on both sides and committed to SQLite with synchronous=FULL).

    python -m tools.bench.ocpp_outbox [--hours 24] [--sample-interval 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from firmware.app import Application
from firmware.ocpp.v16.adapter import OcppAdapter
from firmware.settings import load_settings
from hal.clock import SimClock
from tools.bench.report import figure

NOW = "2030-01-01T00:00:00.000Z"


class BenchCsms(ChargePoint):  # type: ignore[misc]
    received = 0
    tx_ids = count(1)

    async def route_message(self, raw_msg: str) -> None:
        BenchCsms.received += 1
        await super().route_message(raw_msg)

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    def boot(self, **kwargs: Any) -> Any:
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def heartbeat(self, **kwargs: Any) -> Any:
        return call_result.Heartbeat(current_time=NOW)

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def status(self, **kwargs: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.start_transaction)  # type: ignore[untyped-decorator]
    def start_tx(self, **kwargs: Any) -> Any:
        return call_result.StartTransaction(transaction_id=next(self.tx_ids),
                                            id_tag_info={"status": "Accepted"})

    @on(Action.stop_transaction)  # type: ignore[untyped-decorator]
    def stop_tx(self, **kwargs: Any) -> Any:
        return call_result.StopTransaction()

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def meter_values(self, **kwargs: Any) -> Any:
        return call_result.MeterValues()


async def run(hours: float, sample_interval: int) -> dict[str, float]:
    async def handler(ws: ServerConnection) -> None:
        try:
            await BenchCsms("CP", ws).start()
        except Exception:
            return

    state = Path(tempfile.mkdtemp(prefix="cpb"))
    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        settings = load_settings(None, station={"state_dir": str(state), "free_charging": True},
                                 ocpp={"url": f"ws://127.0.0.1:{port}", "charge_point_id": "CP",
                                       "ping_interval_s": 0, "reconnect_min_s": 1.0,
                                       "configuration": {"MeterValueSampleInterval": sample_interval,
                                                         "ClockAlignedDataInterval": 900}})
        clock = SimClock()
        app = Application(settings, clock=clock)
        adapter = app.ocpp
        assert isinstance(adapter, OcppAdapter) and app.simulation is not None
        await app.start()
        while adapter.status()["registration"] != "Accepted":
            await clock.advance(0.1)
            await asyncio.sleep(0.001)
        await adapter.link.disable()
        app.simulation.connector(1).plug()
        started = time.perf_counter()
        for _ in range(int(hours * 60)):
            await clock.advance(60)
        simulated_s = time.perf_counter() - started
        app.simulation.connector(1).unplug()
        await clock.advance(5)
        queued = adapter.outbox.durable_depth()
        db_kib = _size_kib(state)
        before = BenchCsms.received
        started = time.perf_counter()
        adapter.link.enable()
        while adapter.outbox.depth() > 0:
            await clock.advance(0.05)
            await asyncio.sleep(0.001)
        drain_s = time.perf_counter() - started
        delivered = BenchCsms.received - before
        await app.stop()
    return {"simulated_hours": hours, "simulation_wall_s": simulated_s, "queued_transaction_messages": queued,
            "state_db_kib": db_kib, "drain_s": drain_s, "delivered_messages": delivered,
            "messages_per_s": delivered / drain_s}


def _size_kib(state: Path) -> float:
    """Size of the OCPP state database with its WAL file."""
    return sum(p.stat().st_size for p in state.glob("ocpp.sqlite3*")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--sample-interval", type=int, default=60)
    args = parser.parse_args()
    result = asyncio.run(run(args.hours, args.sample_interval))
    print(f"{result['simulated_hours']:.0f} h outage during a session, a MeterValues every "
          f"{args.sample_interval} s:")
    figure("outage: transaction messages queued", result["queued_transaction_messages"], "messages",
           f"state database {result['state_db_kib']:.0f} KiB")
    figure("outage: wall time to simulate it", result["simulation_wall_s"], "s")
    figure("outage: outbox drain", result["messages_per_s"], "messages/s",
           f"{result['delivered_messages']:.0f} CALLs in {result['drain_s']:.2f} s")


if __name__ == "__main__":
    main()
