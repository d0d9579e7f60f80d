"""`chargepi run`: run the controller in the foreground (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from firmware.cli.common import EXIT_CONFIG, EXIT_HARDWARE, EXIT_STATE_DIR, chosen_config
from firmware.config_paths import ConfigError
from firmware.safety.launch import Launch, prelaunch


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("run", parents=[common], help="run the charger controller",
                            description="Run the controller in the foreground (what the systemd unit "
                                        "starts). Exit 2 on a bad config, 4 when a hardware part cannot "
                                        "be started, 5 when the state directory is not writable, 75 "
                                        "when a restart was requested.")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The supervisor process is launched before anything heavy is imported here, so that its start-up
    # overlaps ours (firmware/safety/launch.py); the settings models and the application come after.
    launch = None
    try:
        path = chosen_config(args)
        launch = prelaunch(path)
        from firmware.settings import load_settings

        settings = load_settings(path)
    except ConfigError as exc:
        _cancel(launch)
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from firmware.logging_setup import configure_logging
    from firmware.storage.statedir import StateDirError, check_writable

    configure_logging(settings)
    try:
        check_writable(settings.station.state_dir)
    except StateDirError as exc:
        _cancel(launch)
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_STATE_DIR
    from firmware.app import Application
    from hal.contract import HalError

    try:
        return asyncio.run(Application(settings, supervisor_launch=launch).run())
    except HalError as exc:
        if getattr(args, "debug", False):
            raise
        where = path or "the default settings"
        print(f"chargepi: cannot start the hardware: {str(exc).rstrip('.!')}. Fix: check the driver "
              f"settings in {where} (docs/hardware-wiring.md), then `chargepi selftest`", file=sys.stderr)
        return EXIT_HARDWARE


def _cancel(launch: Launch | None) -> None:
    if launch is not None:
        launch.cancel()
