"""Entry point of the `chargepi` command: builds the argument parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from firmware import __version__

# Each module defines add_parser(subparsers, common) and sets `handler` on its parser.
COMMAND_MODULES = [
    "firmware.cli.run_cmd",
    "firmware.cli.status_cmd",
    "firmware.cli.sim_cmd",
    "firmware.cli.ocpp_cmd",
    "firmware.cli.limit_cmd",
    "firmware.cli.selftest_cmd",
    "firmware.cli.meter_cmd",
    "firmware.cli.config_cmd",
    "firmware.cli.completion_cmd",
    "firmware.cli.sessions_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=None,
        help="config file (default: $CHARGEPI_CONFIG, else /etc/chargepi/chargepi.toml)",
    )
    parser = argparse.ArgumentParser(prog="chargepi", description="chargepi EV charger controller")
    parser.add_argument("--version", action="version", version=f"chargepi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
