"""`chargepi selftest`: walk a technician through the configured hardware, pass/fail with measured values.

Refuses while the controller runs (it owns the pins and the bus), naming the connector if it is charging:
that is a refusal (exit 1), not "no controller listening" (exit 3, which would say the opposite).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, settings_from
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.settings import ConfigError, Settings
from hal.clock import Clock, RealClock
from hal.contract import StationHardware
from hal.selftest import Check, SelfTestOptions, run_selftest


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "selftest", parents=[common], help="test the charger hardware (no car plugged in)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before clicking the contactor")
    parser.add_argument("--no-relay", action="store_true", help="skip the contactor click")
    parser.add_argument(
        "--rfid-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds to wait for a card on the reader (0 = skip; default 15)",
    )
    parser.set_defaults(handler=selftest)


def controller_busy(settings: Settings) -> str | None:
    """Why the self test must not run now, or None."""
    try:
        doc = call(settings.station.socket_path, "status", timeout=3.0)
    except ControllerUnreachable:
        return None
    except CommandFailed as exc:
        return f"the controller is running but did not answer status ({exc}); stop it first"
    for connector in doc.get("connectors", []):
        if connector.get("contactor", {}).get("closed") or connector.get("status") == "Charging":
            return (
                f"the controller is charging on connector {connector.get('id')}: end the session and "
                "stop the controller (systemctl stop chargepi) before the self test"
            )
    return "the controller is running and owns the hardware: stop it first (systemctl stop chargepi)"


def print_check(check: Check) -> None:
    print(f"{'PASS' if check.passed else 'FAIL'}  {check.name:<28} {check.detail}", flush=True)


BuildHardware = Callable[[Settings, Clock], StationHardware]


async def run_checks(settings: Settings, options: SelfTestOptions, build: BuildHardware | None = None,
                     report: Callable[[Check], None] = print_check) -> list[Check]:
    """Build the configured hardware (with `build`, default hal.factory) and check every part."""
    from hal.factory import build_station_hardware

    clock = RealClock()
    hardware = build(settings, clock) if build is not None else build_station_hardware(settings, clock)[0]
    return await run_selftest(hardware, clock, options, report)


def confirm_relay(args: argparse.Namespace) -> bool:
    """Whether the contactor may click: --yes, or the technician's answer (never without one)."""
    if args.no_relay:
        return False
    if args.yes:
        return True
    try:
        answer = input("The contactor will close for 0.25 s: the outlet is LIVE meanwhile. Continue? [y/N] ")
    except EOFError:  # no terminal: never click without an explicit yes
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("contactor click skipped (run with --yes to include it)")
    return False


def selftest(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    busy = controller_busy(settings)
    if busy is not None:
        print(f"chargepi: {busy}", file=sys.stderr)
        return EXIT_FAILED
    relay = confirm_relay(args)
    if args.rfid_timeout > 0:
        print(f"Present a card to the reader during the RFID check (up to {args.rfid_timeout:g} s).")
    try:
        checks = asyncio.run(
            run_checks(settings, SelfTestOptions(relay=relay, rfid_timeout_s=args.rfid_timeout))
        )
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    failed = [c for c in checks if not c.passed]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return EXIT_FAILED if failed else EXIT_OK
