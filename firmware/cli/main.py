"""Entry point of the `chargepi` command: builds the argument parser from the subcommand modules.

Only the module of the command being run is imported (`chargepi status` does not load the controller,
the settings models or the drivers); `chargepi --help`, an unknown command and `completion` build the
full parser.

Every failure ends in one line on stderr naming what failed and how to fix it, with the exit codes of
`firmware.cli.common`; a traceback only with `--debug`. Output piped into a reader that leaves early
(`chargepi sessions | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from firmware import __version__
from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from firmware.config_paths import ConfigError

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
    "commission": "firmware.cli.commission_cmd",
    "meter": "firmware.cli.meter_cmd",
    "config": "firmware.cli.config_cmd",
    "completion": "firmware.cli.completion_cmd",
    "sessions": "firmware.cli.sessions_cmd",
    "report": "firmware.cli.sessions_cmd",
    "events": "firmware.cli.events_cmd",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))

DEBUG_HELP = "print the full traceback of an unexpected error"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or (given the name of a known command) with that one only."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", default=None,
        help="config file (default: $CHARGEPI_CONFIG, else /etc/chargepi/chargepi.toml)",
    )
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    parser = argparse.ArgumentParser(prog="chargepi", description="chargepi EV charger controller")
    parser.add_argument("--version", action="version", version=f"chargepi {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub, common)
    return parser


def _reader_left() -> int:
    """stdout's reader closed the pipe (`| head`): not an error; keep Python's exit flush quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not args.debug:  # library fallbacks (gpiozero pin factories) are noise to a technician
        warnings.filterwarnings("ignore", message="Falling back from")
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_left()
    except KeyboardInterrupt:
        print("chargepi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConfigError as exc:
        if args.debug:
            raise
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:
        if args.debug:
            raise
        print(f"chargepi {args.command}: unexpected error: {type(exc).__name__}: {exc} "
              f"(run again with --debug for the traceback, and report it)", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
