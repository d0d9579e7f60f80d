"""Entry point of the `chargepi` command: builds the argument parser from the subcommand modules.

Only the module of the command being run is imported (`chargepi status` does not load the controller,
the settings models or the drivers); `chargepi --help`, an unknown command and `completion` build the
full parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from firmware import __version__

# Each module defines add_parser(subparsers, common), which adds the commands listed here and sets
# `handler` on each parser. tests/product/test_cli_startup.py checks that this map matches the modules.
COMMANDS = {
    "run": "firmware.cli.run_cmd",
    "status": "firmware.cli.status_cmd",
    "fault": "firmware.cli.status_cmd",
    "sim": "firmware.cli.sim_cmd",
    "ocpp": "firmware.cli.ocpp_cmd",
    "limit": "firmware.cli.limit_cmd",
    "selftest": "firmware.cli.selftest_cmd",
    "meter": "firmware.cli.meter_cmd",
    "config": "firmware.cli.config_cmd",
    "completion": "firmware.cli.completion_cmd",
    "sessions": "firmware.cli.sessions_cmd",
    "report": "firmware.cli.sessions_cmd",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or (given the name of a known command) with that one only."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=None,
        help="config file (default: $CHARGEPI_CONFIG, else /etc/chargepi/chargepi.toml)",
    )
    parser = argparse.ArgumentParser(prog="chargepi", description="chargepi EV charger controller")
    parser.add_argument("--version", action="version", version=f"chargepi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
