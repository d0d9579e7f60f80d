"""The error for a configuration that cannot be built; the message is meant for a technician.

Defined here, at the bottom layer, because the driver factory raises it and `hal/` never imports
`firmware/`; the firmware's settings loader raises the same type (re-exported by `firmware.config_paths`).
"""

from __future__ import annotations


class ConfigError(Exception):
    """Configuration is invalid; the message is meant for a technician."""
