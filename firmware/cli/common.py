"""Helpers shared by CLI subcommands: finding the config, reaching the controller, printing errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.settings import ConfigError, Settings, default_config_path, load_settings


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path()


def settings_from(args: argparse.Namespace) -> Settings:
    path = config_path(args)
    return load_settings(path if path.exists() else None)


def control(args: argparse.Namespace, command: str, **kwargs: Any) -> Any:
    """Run one control command against the running controller; exit with a clear message on failure."""
    try:
        settings = settings_from(args)
        return call(settings.station.socket_path, command, **kwargs)
    except ConfigError as exc:
        fail(str(exc), 2)
    except ControllerUnreachable as exc:
        fail(str(exc), 3)
    except CommandFailed as exc:
        fail(str(exc), 1)


def fail(message: str, code: int) -> Any:
    print(f"chargepi: {message}", file=sys.stderr)
    raise SystemExit(code)
