"""Helpers shared by CLI subcommands: finding the config, reaching the controller, printing errors.

Kept light: commands that only talk to the control socket find it with `firmware.control.locate`;
the settings models are imported only by `settings_from()`, for commands that need the whole config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.config_paths import ConfigError, default_config_path
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.control.locate import socket_path

if TYPE_CHECKING:
    from firmware.settings import Settings


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def settings_from(args: argparse.Namespace) -> Settings:
    from firmware.settings import load_settings

    path = config_path(args)
    return load_settings(path if path.exists() else None)


def control_socket(args: argparse.Namespace) -> Path:
    """The running controller's control socket for --config (raises ConfigError)."""
    path = config_path(args)
    return socket_path(path if path.exists() else None)


def control(args: argparse.Namespace, command: str, **kwargs: Any) -> Any:
    """Run one control command against the running controller; exit with a clear message on failure."""
    try:
        return call(control_socket(args), command, **kwargs)
    except ConfigError as exc:
        fail(str(exc), 2)
    except ControllerUnreachable as exc:
        fail(str(exc), 3)
    except CommandFailed as exc:
        fail(str(exc), 1)


def fail(message: str, code: int) -> Any:
    print(f"chargepi: {message}", file=sys.stderr)
    raise SystemExit(code)
