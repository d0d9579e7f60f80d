"""`chargepi limit set 10A --for 15m [--connector N]` and `chargepi limit clear [--connector N]`."""

from __future__ import annotations

import argparse
import re
from typing import Any

from firmware.cli.common import control, fail

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_amps(text: str) -> float:
    value = text.strip().upper().removesuffix("A").strip()
    try:
        amps = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a current: {text!r} (e.g. 10A or 16.5)") from None
    if not 0 <= amps <= 80:
        raise argparse.ArgumentTypeError(f"current must be 0..80 A, got {text!r}")
    return amps


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 15m, 1h30m)")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError("duration must be > 0")
    return float(total)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("limit", help="set or clear a local current limit (limit source 'external')")
    actions = parser.add_subparsers(dest="limit_action", metavar="ACTION")
    actions.required = True
    set_parser = actions.add_parser("set", parents=[common], help="limit the offered current")
    set_parser.add_argument("amps", type=parse_amps, help="current per phase, e.g. 10A (below 6 A pauses)")
    set_parser.add_argument("--for", dest="for_s", type=parse_duration, default=None, metavar="DURATION",
                            help="lapse after this long, e.g. 15m, 2h, 90s (default: until cleared)")
    set_parser.add_argument("--connector", type=int, default=None, help="only this connector (default: all)")
    set_parser.set_defaults(handler=run_set)
    clear_parser = actions.add_parser("clear", parents=[common], help="remove the local limit")
    clear_parser.add_argument("--connector", type=int, default=None,
                              help="only this connector (default: all)")
    clear_parser.set_defaults(handler=run_clear)


def _print(result: Any, empty: str = "no external limit set") -> int:
    if not isinstance(result, dict):
        fail(f"unexpected answer from the controller: {result!r}", 1)
    if not result:
        print(empty)
    for connector, entry in result.items():
        until = f" until {entry['until']}" if entry.get("until") else ""
        print(f"connector {connector}: {entry['amps']:g} A{until}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    return _print(control(args, "limit", action="set", amps=args.amps, for_s=args.for_s,
                          connector=args.connector))


def run_clear(args: argparse.Namespace) -> int:
    return _print(control(args, "limit", action="clear", connector=args.connector),
                  empty="external limit cleared")
