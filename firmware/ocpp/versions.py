"""Which OCPP version talks to the CSMS: `[ocpp] version` picks one peer package (default "1.6").

Each entry builds that version's adapter from the neutral `AdapterContext`; the package is imported only
when it is chosen. Adding a version is one entry here (docs/architecture.md "Adding an OCPP version").
This is the one module outside the version packages that imports them (tests/layering checks it): the
settings and the config editor ask it what a version's presets may name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware.ocpp.common.runtime import AdapterContext, OcppRuntime

if TYPE_CHECKING:
    from firmware.ocpp.common.keystore import KeySpec
    from firmware.settings import Settings

DEFAULT_VERSION = "1.6"


def _v16(context: AdapterContext) -> OcppRuntime:
    from firmware.ocpp.v16.adapter import OcppAdapter
    from firmware.ocpp.v16.smart_profiles import SmartCharging16

    smart = SmartCharging16(context.smart_charging) if context.smart_charging is not None else None
    return OcppAdapter(context.settings, context.station, context.clock, context.state_dir, context.control,
                       restart=context.restart, smart_charging=smart, security_log=context.security_log,
                       storage=context.storage, signed_metering=context.signed_metering,
                       display=context.display)


def _v201(context: AdapterContext) -> OcppRuntime:
    from firmware.ocpp.v201.adapter import Adapter201

    return Adapter201(context)


VERSIONS: dict[str, Callable[[AdapterContext], OcppRuntime]] = {"1.6": _v16, "2.0.1": _v201}


def check_version(version: str) -> str:
    """`version` if this build speaks it, else a ValueError naming the versions it does speak."""
    if version not in VERSIONS:
        allowed = ", ".join(f'"{v}"' for v in VERSIONS)
        raise ValueError(f'OCPP version "{version}" is not supported by this build; allowed: {allowed}')
    return version


def build_adapter(context: AdapterContext) -> OcppRuntime:
    """The adapter of the OCPP version the settings name."""
    if context.settings.ocpp is None:
        raise ValueError("an OCPP adapter needs an [ocpp] section")
    return VERSIONS[check_version(context.settings.ocpp.version)](context)


# ---- what the config file may preset, per version (imported when a config is checked or listed) -----


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


def check_device_model(settings: Settings) -> None:
    """`[ocpp.device_model]` (OCPP 2.0.1 variables): ValueError naming every entry this installation does
    not take."""
    from firmware.ocpp.v201.device_model.presets import check

    check(settings)


def device_model_defaults(settings: Settings) -> dict[str, str]:
    """`[ocpp.device_model]`: every variable an installer may preset, with its default."""
    from firmware.ocpp.v201.device_model.presets import presettable

    return presettable(settings)
