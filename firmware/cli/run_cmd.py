"""`chargepi run`: run the controller in the foreground (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from firmware.cli.common import EXIT_CONFIG, EXIT_HARDWARE, chosen_config
from firmware.logging_setup import configure_logging
from firmware.settings import ConfigError, load_settings
from hal.contract import HalError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("run", parents=[common], help="run the charger controller",
                            description="Run the controller in the foreground (what the systemd unit "
                                        "starts). Exit 2 on a bad config, 4 when a hardware part cannot "
                                        "be started, 75 when a restart was requested.")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        path = chosen_config(args)
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    from firmware.app import Application

    try:
        return asyncio.run(Application(settings).run())
    except HalError as exc:
        if getattr(args, "debug", False):
            raise
        where = path or "the default settings"
        print(f"chargepi: cannot start the hardware: {str(exc).rstrip('.!')}. Fix: check the driver "
              f"settings in {where} (docs/hardware-wiring.md), then `chargepi selftest`", file=sys.stderr)
        return EXIT_HARDWARE
