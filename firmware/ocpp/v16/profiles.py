"""The 1.6 feature profiles this charger offers (SupportedFeatureProfiles): checked against what it has;
the configuration keys of a profile not offered are hidden (its messages are answered NotSupported by the
charge point)."""

from __future__ import annotations

import logging

from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.v16.configuration import PROFILE_KEYS

log = logging.getLogger(__name__)

FEATURE_PROFILES = "Core,LocalAuthListManagement,Reservation,RemoteTrigger"


def available_profiles(smart_charging: bool, firmware_management: bool) -> str:
    """The profiles this build and installation have, comma separated (SupportedFeatureProfiles' default)."""
    return FEATURE_PROFILES + (",SmartCharging" if smart_charging else "") + (
        ",FirmwareManagement" if firmware_management else "")


def offered_profiles(config: ConfigurationStore, available: frozenset[str], smart_keys: set[str],
                     explicit: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(offered, switched off): the profiles SupportedFeatureProfiles offers, and those whose messages are
    answered NotSupported. `explicit`: the installer named the profiles in the config file."""
    offered = frozenset(config.get_list("SupportedFeatureProfiles"))
    missing = sorted(offered - available)
    if missing or "Core" not in offered:
        raise ValueError(
            "ocpp.configuration.SupportedFeatureProfiles: must include Core and may only name profiles "
            f"this charger has ({', '.join(sorted(available))})"
            + (f"; not available: {', '.join(missing)}" if missing else ""))
    hidden: dict[str, tuple[str, ...]] = {**PROFILE_KEYS, "SmartCharging": tuple(smart_keys)}
    for profile, names in hidden.items():
        if profile not in offered:
            for name in names:
                # A switched-off local list is never consulted; a switched-off reservation never made.
                config.hide(name, "false" if config.keys[name].kind == "bool" else None)
    # Without an installer FirmwareManagement is not offered, yet GetDiagnostics is still answered,
    # unless the installer named the profiles explicitly.
    switched_off = frozenset(p for p in available | {"FirmwareManagement"}
                             if p not in offered and (explicit or p in available))
    if offered != available:
        log.info("OCPP feature profiles offered: %s", ", ".join(sorted(offered)))
    return offered, switched_off
