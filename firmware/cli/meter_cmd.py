"""`chargepi meter scan`: probe a Modbus bus (RS-485 port or TCP host) for meters: addresses and models.

Quiet by default (the Modbus library's own messages about addresses that do not answer are expected
here and only shown with --debug), with progress on a terminal, and for each meter found the TOML to put
into the config.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from hal.clock import RealClock
from hal.contract import HalError
from hal.meters.bus import BusRegistry, SerialLine
from hal.meters.registermap import builtin_maps
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


def model_name(map_name: str) -> str:
    """The shortest `model = ...` name of a packaged map (e.g. "sdm630" for "Eastron SDM630")."""
    names = [key for key, meter_map in builtin_maps().items() if meter_map.name == map_name]
    return min(names, key=len)


def best_model(hit: ScanHit) -> str | None:
    """The map that decodes the most values (a 3-phase map over a 1-phase one); None if none fits."""
    if not hit.models:
        return None
    return max(hit.models, key=lambda m: sum(v is not None for v in hit.readings[m].values()))


def describe(hit: ScanHit) -> list[str]:
    models = ", ".join(hit.models) if hit.models else "answers, but matches no known map"
    lines = [f"address {hit.device_id:3d}: {models}"]
    for model, values in hit.readings.items():
        energy = values.get("energy_import")
        volts = [v for k, v in sorted(values.items()) if k.startswith("voltage") and v is not None]
        shown = " / ".join(f"{v:.1f}" for v in volts) or "-"
        lines.append(f"             {model}: {energy / 1000 if energy else 0:.3f} kWh, {shown} V")
    return lines


def snippet(hit: ScanHit, args: argparse.Namespace) -> list[str]:
    """The config table for this meter (as the connector's meter; use [station.hal.grid_meter] for a
    site meter)."""
    best = best_model(hit)
    if best is None:
        return []
    lines = [f"# address {hit.device_id}: {best}"]
    others = [model_name(m) for m in hit.models if m != best]
    if others:
        lines.append(f"# also decodes as {', '.join(others)}: keep the model on the meter's type plate")
    lines.append("[connectors.hal.meter]")
    if args.port:
        lines += ['driver = "modbus-rtu"', f'port = "{args.port}"', f"baudrate = {args.baudrate}",
                  f'parity = "{args.parity}"', f"stopbits = {args.stopbits}"]
    else:
        lines += ['driver = "modbus-tcp"', f'host = "{args.host}"', f"port = {args.tcp_port}"]
    lines += [f"device_id = {hit.device_id}", f'model = "{model_name(best)}"']
    return lines


def render(hits: list[ScanHit], args: argparse.Namespace | None = None) -> str:
    if not hits:
        return "no device answered"
    lines = [line for hit in hits for line in describe(hit)]
    snippets = [snippet(hit, args) for hit in hits] if args is not None else []
    snippets = [s for s in snippets if s]
    if snippets:
        lines += ["", "# For the config file (chargepi config validate checks it):"]
        for block in snippets:
            lines += ["", *block]
    return "\n".join(lines)


class Progress:
    """`probing address 17 (1-247), 1 meter found` on one terminal line; nothing when not a terminal."""

    def __init__(self, ids: range) -> None:
        self.ids = ids
        self.found = 0
        self.live = sys.stderr.isatty()

    def __call__(self, device_id: int, hit: ScanHit | None) -> None:
        self.found += hit is not None
        if self.live:
            print(f"\rprobing address {device_id} ({self.ids.start}-{self.ids.stop - 1}), "
                  f"{self.found} found ", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


async def scan_command(args: argparse.Namespace) -> int:
    if not getattr(args, "debug", False):  # "No response received" for every empty address is expected
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    registry = BusRegistry(RealClock())
    if args.port:
        bus = registry.serial(
            SerialLine(args.port, args.baudrate, args.parity, args.stopbits), args.timeout, 0
        )
        where = f"{args.port} ({args.baudrate} {8}{args.parity}{args.stopbits})"
    else:
        bus = registry.tcp(args.host, args.tcp_port, args.timeout, 0)
        where = f"{args.host}:{args.tcp_port}"
    count = len(args.ids)
    print(f"scanning {where}, addresses {args.ids.start}-{args.ids.stop - 1} "
          f"(up to {count * args.timeout:.0f} s) ...", flush=True)
    progress = Progress(args.ids)
    try:
        hits = await scan(bus, args.ids, progress=progress)
    except HalError as exc:
        progress.done()
        print(f"chargepi: {exc}", file=sys.stderr)
        return 1
    progress.done()
    print(render(hits, args))
    return 0 if hits else 1


def meter_scan(args: argparse.Namespace) -> int:
    return asyncio.run(scan_command(args))
