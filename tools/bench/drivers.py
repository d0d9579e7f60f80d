"""Driver figures on the mocked board (gpiozero MockFactory, emulated MCP3008, emulated meters).

* CP path: from a car's C -> B change on the (emulated) ADC input to the contactor coil pin going low,
  through the real measurement thread, debouncer and a subscriber that opens the contactor, as the core's
  interlock does. The mock SPI bus is bit-banged in Python (~0.13 ms per conversion), slower than spidev,
  so these figures are an upper bound for the same burst size.
* Meter reads: one full SDM630 reading (3 requests) over Modbus TCP on 127.0.0.1 and over RTU through a
  pseudo-terminal pair (9600 baud configured; ptys do not enforce baud timing).

    python -m tools.bench.drivers [--events 200] [--reads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.settings import Settings
from hal.clock import RealClock
from hal.config import GpioContactorConfig, GpioPilot
from hal.drivers_factory import build_gpio, build_pilot
from hal.factory import BuildContext
from hal.meters.bus import BusRegistry, SerialLine
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.registermap import builtin_maps
from hal.types import CPState, PilotOutput, PilotReading
from tests.drivers.meter_emulator import (
    EmulatedMeter,
    PtyBridge,
    free_port,
    start_rtu_server,
    start_tcp_server,
)
from tests.drivers.mock_adc import MockMcp3008
from tests.drivers.rig import HIGH_V, LOW_V, REF_V, adc_v
from tools.bench.report import figure


def summary(name: str, values_s: list[float]) -> None:
    ms = sorted(v * 1000 for v in values_s)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    figure(f"{name} p50", statistics.median(ms), "ms", f"p99 {p99:.2f} ms, max {ms[-1]:.2f} ms, n={len(ms)}")


async def cp_to_contactor(events: int, burst: int, interval_ms: float) -> list[float]:
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    adc = MockMcp3008(REF_V, factory)
    adc.set_voltages(0, [adc_v(12.0)])
    ctx = BuildContext(Settings(), RealClock())
    pilot = build_pilot(
        ctx,
        GpioPilot.model_validate(
            {
                "driver": "gpio",
                "pwm": 18,
                "measure": {
                    "type": "adc",
                    "adc_model": "MCP3008",
                    "reference_v": REF_V,
                    "adc_v_at_minus_12": LOW_V,
                    "adc_v_at_plus_12": HIGH_V,
                    "burst_samples": burst,
                    "interval_ms": interval_ms,
                },
            }
        ),
    )
    contactor = build_gpio(
        ctx, None, "contactor", GpioContactorConfig.model_validate({"driver": "gpio", "coil": 17})
    )
    await contactor.start()
    await pilot.start()
    pilot.set_output(PilotOutput.pwm(26.67))
    opened = threading.Event()
    closed = threading.Event()
    opened_at = [0.0]
    state = {"car": 9.0}

    def line() -> list[float]:
        return [adc_v(state["car"]), adc_v(-12.0)]

    def interlock(reading: PilotReading) -> None:
        if reading.state == CPState.C:
            contactor.close()
            closed.set()
        elif reading.state == CPState.B and contactor.commanded_closed:
            contactor.open()
            opened_at[0] = time.perf_counter()
            opened.set()

    adc.set_source(0, line)
    pilot.subscribe(interlock)
    coil = factory.pin(17)
    results: list[float] = []
    for _ in range(events):
        closed.clear()
        state["car"] = 6.0
        await asyncio.to_thread(closed.wait, 5.0)
        assert coil.state
        opened.clear()
        started = time.perf_counter()
        state["car"] = 9.0
        await asyncio.to_thread(opened.wait, 5.0)
        results.append(opened_at[0] - started)
    await pilot.stop()
    await contactor.stop()
    factory.reset()
    return results


async def meter_reads(reads: int) -> tuple[list[float], list[float]]:
    meter_map = builtin_maps()["sdm630"]
    registry = BusRegistry(RealClock())
    port = free_port()
    server = await start_tcp_server([EmulatedMeter(meter_map)], port)
    tcp_meter = ModbusMeter(registry.tcp("127.0.0.1", port, 1.0, 1), 1, meter_map)
    tcp: list[float] = []
    for _ in range(reads):
        started = time.perf_counter()
        await tcp_meter.read()
        tcp.append(time.perf_counter() - started)
    await server.shutdown()
    bridge = PtyBridge()
    server = await start_rtu_server([EmulatedMeter(meter_map)], bridge.server_port)
    rtu_meter = ModbusMeter(registry.serial(SerialLine(bridge.client_port), 1.0, 1), 1, meter_map)
    rtu: list[float] = []
    for _ in range(reads):
        started = time.perf_counter()
        await rtu_meter.read()
        rtu.append(time.perf_counter() - started)
    await server.shutdown()
    bridge.close()
    return tcp, rtu


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    for burst in (16, 64):
        values = await cp_to_contactor(args.events, burst, 5.0)
        summary(f"CP C->B to contactor open (burst {burst}, interval 5 ms, confirm 2)", values)
    tcp, rtu = await meter_reads(args.reads)
    summary("SDM630 full reading over Modbus TCP (127.0.0.1)", tcp)
    summary("SDM630 full reading over Modbus RTU (pty pair)", rtu)


if __name__ == "__main__":
    asyncio.run(main())
