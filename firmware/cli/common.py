"""Helpers shared by CLI subcommands: finding the config, reaching the controller, exit codes, errors.

Kept light: commands that only talk to the control socket find it with `firmware.control.locate`;
the settings models are imported only by `settings_from()`, for commands that need the whole config.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from firmware.config_paths import ConfigError, default_config_path
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.control.locate import socket_path

if TYPE_CHECKING:
    from firmware.settings import Settings

# Exit codes of every subcommand (documented in README "Command line"; tests/product/test_cli_errors.py).
EXIT_OK = 0
EXIT_FAILED = 1  # the controller refused, a check failed, or an unexpected error
EXIT_CONFIG = 2  # bad configuration or bad command line
EXIT_NO_CONTROLLER = 3  # no controller listening on the control socket
EXIT_HARDWARE = 4  # `run`: a hardware part could not be started
EXIT_INTERRUPTED = 130  # Ctrl-C


class ConfigMissing(ConfigError):
    """The config file named on the command line or in $CHARGEPI_CONFIG does not exist."""


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def chosen_config(args: argparse.Namespace) -> Path | None:
    """The config file to read: None when none was chosen and the default file does not exist.

    A file named with --config or $CHARGEPI_CONFIG must exist (ConfigMissing otherwise)."""
    path = config_path(args)
    if path.exists():
        return path
    if args.config:
        raise ConfigMissing(f"config file {path} (--config) does not exist: check the path")
    if os.environ.get("CHARGEPI_CONFIG"):
        raise ConfigMissing(f"config file {path} ($CHARGEPI_CONFIG) does not exist: "
                          "check the path or unset CHARGEPI_CONFIG")
    return None


def settings_from(args: argparse.Namespace) -> Settings:
    from firmware.settings import load_settings

    return load_settings(chosen_config(args))


def control_socket(args: argparse.Namespace) -> Path:
    """The running controller's control socket for --config (raises ConfigError)."""
    return socket_path(chosen_config(args))


def control(args: argparse.Namespace, command: str, **kwargs: Any) -> Any:
    """Run one control command against the running controller; exit with a clear message on failure."""
    try:
        return call(control_socket(args), command, **kwargs)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except ControllerUnreachable as exc:
        fail(str(exc), EXIT_NO_CONTROLLER)
    except CommandFailed as exc:
        fail(str(exc), EXIT_FAILED)


def fail(message: str, code: int) -> NoReturn:
    print(f"chargepi: {message}", file=sys.stderr)
    raise SystemExit(code)
