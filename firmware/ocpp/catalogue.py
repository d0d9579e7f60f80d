"""What each OCPP version lets the config file name: the versions this build speaks (default "1.6"), the
1.6 configuration keys a preset may set, and the 2.0.1 device-model presets of an installation.

The settings and the config editor ask this module; it imports a version's preset tables only when a
config is checked or listed, and never an adapter (firmware/ocpp/versions.py builds those), so the settings
never depend on the runtime that depends on them (tests/layering/test_import_cycles.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware.ocpp.common.keystore import KeySpec
    from firmware.ocpp.v201.device_model.installation import InstallationSettings

DEFAULT_VERSION = "1.6"
VERSION_NAMES = ("1.6", "2.0.1")  # each has a builder in firmware/ocpp/versions.py


def check_version(version: str) -> str:
    """`version` if this build speaks it, else a ValueError naming the versions it does speak."""
    if version not in VERSION_NAMES:
        allowed = ", ".join(f'"{v}"' for v in VERSION_NAMES)
        raise ValueError(f'OCPP version "{version}" is not supported by this build; allowed: {allowed}')
    return version


def configuration_key_names() -> list[str]:
    """`[ocpp.configuration]` (OCPP 1.6 configuration keys): the standard key names, OCPP spelling."""
    from firmware.ocpp.v16.presets import standard_key_names

    return standard_key_names()


def configuration_keys() -> dict[str, KeySpec]:
    """`[ocpp.configuration]`: every key a preset may name, with its type and bounds."""
    from firmware.ocpp.v16.presets import preset_keys

    return preset_keys()


def configuration_defaults() -> dict[str, str]:
    """`[ocpp.configuration]`: the keys `chargepi config set` offers, with their defaults."""
    from firmware.ocpp.v16.presets import preset_defaults

    return preset_defaults()


def check_device_model(settings: InstallationSettings) -> None:
    """`[ocpp.device_model]` (OCPP 2.0.1 variables): ValueError naming every entry this installation does
    not take."""
    from firmware.ocpp.v201.device_model.presets import check

    check(settings)


def device_model_defaults(settings: InstallationSettings) -> dict[str, str]:
    """`[ocpp.device_model]`: every variable an installer may preset, with its default."""
    from firmware.ocpp.v201.device_model.presets import presettable

    return presettable(settings)
