"""`chargepi meter scan`: probe a Modbus bus (RS-485 port or TCP host) for meters: addresses and models."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from firmware.clock import RealClock
from hal.contract import HalError
from hal.meters.bus import BusRegistry, SerialLine
from hal.meters.scan import ScanHit, scan


def _id_range(text: str) -> range:
    try:
        first, _, last = text.partition("-")
        low, high = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an address or a range like 1-20") from None
    if not 1 <= low <= high <= 247:
        raise argparse.ArgumentTypeError(f"{text!r}: Modbus addresses are 1..247")
    return range(low, high + 1)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    meter = sub.add_parser("meter", help="energy meter tools",
                           description="Find Modbus energy meters on an RS-485 line or over TCP.")
    actions = meter.add_subparsers(dest="meter_action", metavar="ACTION")
    actions.required = True
    parser = actions.add_parser("scan", parents=[common], help="find meters on a bus",
                                description="Probe every address on a Modbus bus, name the meter models "
                                            "that answer and print a config snippet for each.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the RS-485 adapter, e.g. /dev/ttyUSB0")
    where.add_argument("--host", help="Modbus TCP host (meter or gateway)")
    parser.add_argument("--tcp-port", type=int, default=502, help="Modbus TCP port (default 502)")
    parser.add_argument("--baudrate", type=int, default=9600, help="serial speed (default 9600)")
    parser.add_argument("--parity", choices=["N", "E", "O"], default="N", help="N, E or O (default N)")
    parser.add_argument("--stopbits", type=int, choices=[1, 2], default=1, help="stop bits (default 1)")
    parser.add_argument(
        "--ids",
        type=_id_range,
        default=range(1, 248),
        metavar="A-B",
        help="addresses to probe (default 1-247)",
    )
    parser.add_argument("--timeout", type=float, default=0.3, metavar="S", help="answer timeout per request")
    parser.set_defaults(handler=meter_scan)


def render(hits: list[ScanHit]) -> str:
    if not hits:
        return "no device answered"
    lines = []
    for hit in hits:
        models = ", ".join(hit.models) if hit.models else "answers, but matches no known map"
        lines.append(f"address {hit.device_id:3d}: {models}")
        for model, values in hit.readings.items():
            energy = values.get("energy_import")
            volts = [v for k, v in sorted(values.items()) if k.startswith("voltage") and v is not None]
            shown = " / ".join(f"{v:.1f}" for v in volts) or "-"
            lines.append(f"             {model}: {energy / 1000 if energy else 0:.3f} kWh, {shown} V")
    return "\n".join(lines)


async def scan_command(args: argparse.Namespace) -> int:
    registry = BusRegistry(RealClock())
    if args.port:
        bus = registry.serial(
            SerialLine(args.port, args.baudrate, args.parity, args.stopbits), args.timeout, 0
        )
        where = f"{args.port} ({args.baudrate} {8}{args.parity}{args.stopbits})"
    else:
        bus = registry.tcp(args.host, args.tcp_port, args.timeout, 0)
        where = f"{args.host}:{args.tcp_port}"
    print(f"scanning {where}, addresses {args.ids.start}-{args.ids.stop - 1} ...", flush=True)
    try:
        hits = await scan(bus, args.ids)
    except HalError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return 1
    print(render(hits))
    return 0 if hits else 1


def meter_scan(args: argparse.Namespace) -> int:
    return asyncio.run(scan_command(args))
