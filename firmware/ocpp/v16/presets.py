"""The OCPP 1.6 configuration keys an `[ocpp.configuration]` table may preset: the settings check a preset
against them, `chargepi config keys` lists them (both reach this module through firmware/ocpp/catalogue.py).
"""

from __future__ import annotations

from firmware.ocpp.common.keystore import KeySpec
from firmware.ocpp.v16.configuration import cost_keys, signed_keys, standard_keys


def standard_key_names() -> list[str]:
    """The standard key names in their OCPP spelling (a preset may spell them in any case)."""
    return list(standard_keys(1, ""))


def preset_keys() -> dict[str, KeySpec]:
    """Every key a preset may name: the standard keys and those of signed meter values and pricing."""
    return {**standard_keys(1, ""), **signed_keys([1]), **cost_keys()}


def preset_defaults() -> dict[str, str]:
    """The writable standard keys with their defaults (AuthorizationKey is the credential
    `ocpp.authorization_key`, kept in secrets.toml)."""
    return {name: spec.default for name, spec in standard_keys(1, "").items()
            if spec.writable and name != "AuthorizationKey"}
