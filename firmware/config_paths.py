"""Where the configuration lives (config file, credentials file) and its error type, without pydantic.

`ConfigError` itself is defined in `hal.errors` (the driver factory raises it too) and re-exported here.

Light on purpose: the CLI's socket-only commands import this and `firmware.control.locate`, never the
settings models (`firmware.settings` re-exports these names).
"""

from __future__ import annotations

import os
from pathlib import Path

from hal.errors import ConfigError as ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/chargepi/chargepi.toml")
SECRETS_FILE_NAME = "secrets.toml"


def default_config_path() -> Path:
    env = os.environ.get("CHARGEPI_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_PATH


def secrets_path(config: Path | None) -> Path | None:
    """The credentials file merged over the config: secrets.toml as systemd hands it to the service
    ($CREDENTIALS_DIRECTORY, unit LoadCredential=), else next to the config file if we may read it."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / SECRETS_FILE_NAME).is_file():
        return Path(credentials) / SECRETS_FILE_NAME
    if config is not None:
        beside = config.parent / SECRETS_FILE_NAME
        if beside.is_file() and os.access(beside, os.R_OK):
            return beside
    return None
