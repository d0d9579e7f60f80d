"""Helpers shared by CLI subcommands: finding the config, reaching the controller, exit codes, errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.settings import ConfigError, Settings, default_config_path, load_settings

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
    return load_settings(chosen_config(args))


def control(args: argparse.Namespace, command: str, **kwargs: Any) -> Any:
    """Run one control command against the running controller; exit with a clear message on failure."""
    try:
        settings = settings_from(args)
        return call(settings.station.socket_path, command, **kwargs)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except ControllerUnreachable as exc:
        fail(str(exc), EXIT_NO_CONTROLLER)
    except CommandFailed as exc:
        fail(str(exc), EXIT_FAILED)


def fail(message: str, code: int) -> NoReturn:
    print(f"chargepi: {message}", file=sys.stderr)
    raise SystemExit(code)
