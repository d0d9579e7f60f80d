"""Which OCPP version talks to the CSMS: `[ocpp] version` picks one peer package (default "1.6").

Each entry builds that version's adapter from the neutral `AdapterContext`; the package is imported only
when it is chosen. Adding a version is one entry here and its name in firmware/ocpp/catalogue.py
(docs/architecture.md "Adding an OCPP version"). Outside the version packages only this module and the
catalogue import them (tests/layering checks it); only the application imports this one.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.ocpp.catalogue import check_version
from firmware.ocpp.common.runtime import AdapterContext, OcppRuntime


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


def build_adapter(context: AdapterContext) -> OcppRuntime:
    """The adapter of the OCPP version the settings name."""
    if context.settings.ocpp is None:
        raise ValueError("an OCPP adapter needs an [ocpp] section")
    return VERSIONS[check_version(context.settings.ocpp.version)](context)
