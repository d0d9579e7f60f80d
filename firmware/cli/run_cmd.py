"""`chargepi run`: run the controller in the foreground (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from firmware.cli.common import config_path
from firmware.logging_setup import configure_logging
from firmware.settings import ConfigError, load_settings


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("run", parents=[common], help="run the charger controller")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = config_path(args)
    try:
        settings = load_settings(path if path.exists() or args.config else None)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    from firmware.app import EXIT_STATE_DIR, Application
    from firmware.storage.statedir import StateDirError, check_writable

    try:
        check_writable(settings.station.state_dir)
    except StateDirError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_STATE_DIR
    return asyncio.run(Application(settings).run())
