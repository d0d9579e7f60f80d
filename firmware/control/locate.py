"""The running controller's control-socket path, read from the config without building the settings models.

The CLI commands that only talk to the socket (`status`, `sim`, `ocpp`, `limit`, `fault`) need just this
path; building the pydantic settings would cost them most of their start-up time and memory. It follows
`firmware.settings` for the two settings involved, `station.state_dir` and `station.control_socket`
(default `<state_dir>/control.sock`): CHARGEPI_* environment over the credentials file over the config file
over the defaults. tests/control/test_locate.py checks that it agrees with `load_settings()`.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from firmware.config_paths import ConfigError, secrets_path

DEFAULT_STATE_DIR = "/var/lib/chargepi"  # = firmware.settings.StationSettings.state_dir
SOCKET_NAME = "control.sock"
KEYS = ("state_dir", "control_socket")
ENV_PREFIX = "chargepi_station"  # pydantic-settings: case-insensitive, nested with "__"


def _station_table(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except PermissionError:
        raise ConfigError(f"cannot read {path}: use sudo, or join the group chargepi") from None
    station = document.get("station", {})
    return station if isinstance(station, dict) else {}


def _env_station() -> dict[str, Any]:
    env = {name.lower(): value for name, value in os.environ.items()}
    station: dict[str, Any] = {}
    if ENV_PREFIX in env:  # the whole table as JSON
        try:
            whole = json.loads(env[ENV_PREFIX])
        except ValueError:
            raise ConfigError(f"CHARGEPI_STATION is not valid JSON: {env[ENV_PREFIX]!r}") from None
        if isinstance(whole, dict):
            station.update(whole)
    for key in KEYS:
        if f"{ENV_PREFIX}__{key}" in env:
            station[key] = env[f"{ENV_PREFIX}__{key}"]
    return station


def socket_path(config: Path | None) -> Path:
    """The control socket of the controller that runs with `config` (None: environment and defaults)."""
    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} does not exist")
    merged: dict[str, Any] = {}
    secrets = secrets_path(config)
    for layer in (config, secrets):  # later layers win
        if layer is not None:
            merged.update({k: v for k, v in _station_table(layer).items() if k in KEYS})
    merged.update({k: v for k, v in _env_station().items() if k in KEYS})
    for key in KEYS:
        value = merged.get(key)
        if value is not None and not isinstance(value, str):
            where = config or "configuration"
            raise ConfigError(f"{where}: station.{key} = {value!r}: must be a path (a string)")
    if merged.get("control_socket") is not None:
        return Path(merged["control_socket"])
    return Path(merged.get("state_dir", DEFAULT_STATE_DIR)) / SOCKET_NAME
