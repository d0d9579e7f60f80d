"""OCPP 1.6 configuration keys the charger supports: types, access, validation, persistence in SQLite.

Effective value of a key = the value a CSMS set with ChangeConfiguration (persisted), else the preset from
`[ocpp.configuration]`, else the built-in default. Key names and semantics: OCPP 1.6 edition 2 §9.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["bool", "int", "csl", "str"]
# Never RebootRequired: every supported key takes effect without a restart (WebSocketPingInterval from the
# next connection, AuthorizationKey by reconnecting at once).
ChangeStatus = Literal["Accepted", "Rejected", "NotSupported"]
# Decides on a valid new value of a key before it is stored: Accepted lets the change through.
Guard = Callable[[str], ChangeStatus]

# Measurands the meter path can deliver (hal.types.MeterReading plus the offered current from the core).
SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Frequency",
    "Current.Offered",
    "Temperature",
)
MEASURAND_LIST_MAX = len(SUPPORTED_MEASURANDS)
# OCPP 1.6 §3.1 feature profiles, and the configuration keys each brings (absent when it is switched off).
FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging",
                    "RemoteTrigger")
PROFILE_KEYS = {
    "LocalAuthListManagement": ("LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"),
    "Reservation": ("ReserveConnectorZeroSupported",),
}
LOCAL_LIST_MAX = 1000
SEND_LOCAL_LIST_MAX = 500
GET_CONFIGURATION_MAX_KEYS = 100
CERTIFICATE_STORE_MAX = 20  # = firmware.security.certificates.DEFAULT_MAX_CERTIFICATES
CERTIFICATE_CHAIN_MAX_CHARS = 10000  # CertificateSigned.certificateChain maxLength


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    kind: Kind
    default: str
    writable: bool = True
    minimum: int | None = None
    maximum: int | None = None
    allowed: tuple[str, ...] | None = None  # for csl: every element must be one of these
    max_items: int | None = None
    secret: bool = False  # write-only: GetConfiguration names the key but never shows its value
    preset: bool = False  # read-only for the CSMS, but the installer may preset it in [ocpp.configuration]


def _measurand_key(name: str, default: str) -> KeySpec:
    return KeySpec(name, "csl", default, allowed=SUPPORTED_MEASURANDS, max_items=MEASURAND_LIST_MAX)


def standard_keys(connector_count: int, profiles: str, *, connection_timeout_s: int = 60,
                  security_profile: int = 0, ping_interval_s: int = 30,
                  authorization_key: str = "") -> dict[str, KeySpec]:
    """Every key this charger reports, with its default for this installation."""
    keys = [
        KeySpec("AllowOfflineTxForUnknownId", "bool", "false"),
        KeySpec("AuthorizationCacheEnabled", "bool", "true"),
        KeySpec("AuthorizeRemoteTxRequests", "bool", "false"),
        KeySpec("ClockAlignedDataInterval", "int", "0", minimum=0, maximum=86400),
        # The plug wait after an authorization; defaults to [station] connection_timeout_s, the core
        # enforces the current value (OCPP 1.6 §9.1.6: read-write).
        KeySpec("ConnectionTimeOut", "int", str(connection_timeout_s), minimum=1, maximum=86400),
        KeySpec("ConnectorPhaseRotation", "csl", "0.RST"),
        KeySpec("GetConfigurationMaxKeys", "int", str(GET_CONFIGURATION_MAX_KEYS), writable=False),
        KeySpec("HeartbeatInterval", "int", "300", minimum=0, maximum=86400),
        KeySpec("LocalAuthorizeOffline", "bool", "true"),
        KeySpec("LocalPreAuthorize", "bool", "false"),
        _measurand_key("MeterValuesAlignedData", "Energy.Active.Import.Register"),
        KeySpec("MeterValuesAlignedDataMaxLength", "int", str(MEASURAND_LIST_MAX), writable=False),
        _measurand_key("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
        KeySpec("MeterValuesSampledDataMaxLength", "int", str(MEASURAND_LIST_MAX), writable=False),
        KeySpec("MeterValueSampleInterval", "int", "60", minimum=0, maximum=86400),
        KeySpec("NumberOfConnectors", "int", str(connector_count), writable=False),
        KeySpec("ResetRetries", "int", "1", minimum=0, maximum=10),
        # The core always ends the session and releases the lock when the EV unplugs.
        KeySpec("StopTransactionOnEVSideDisconnect", "bool", "true", writable=False),
        KeySpec("StopTransactionOnInvalidId", "bool", "true"),
        _measurand_key("StopTxnAlignedData", ""),
        KeySpec("StopTxnAlignedDataMaxLength", "int", str(MEASURAND_LIST_MAX), writable=False),
        _measurand_key("StopTxnSampledData", "Energy.Active.Import.Register"),
        KeySpec("StopTxnSampledDataMaxLength", "int", str(MEASURAND_LIST_MAX), writable=False),
        # The installer may offer fewer profiles than the charger has; the rest are switched off.
        KeySpec("SupportedFeatureProfiles", "csl", profiles, writable=False, preset=True,
                allowed=FEATURE_PROFILES),
        KeySpec("TransactionMessageAttempts", "int", "5", minimum=1, maximum=100),
        KeySpec("TransactionMessageRetryInterval", "int", "60", minimum=1, maximum=86400),
        KeySpec("UnlockConnectorOnEVSideDisconnect", "bool", "true", writable=False),
        KeySpec("WebSocketPingInterval", "int", str(ping_interval_s), minimum=0, maximum=3600),
        KeySpec("LocalAuthListEnabled", "bool", "true"),
        KeySpec("LocalAuthListMaxLength", "int", str(LOCAL_LIST_MAX), writable=False),
        KeySpec("SendLocalListMaxLength", "int", str(SEND_LOCAL_LIST_MAX), writable=False),
        KeySpec("ReserveConnectorZeroSupported", "bool", "true", writable=False, preset=True),
        # Security whitepaper: the CSMS may raise the profile (checked and applied by the link security,
        # firmware/ocpp/link_security.py) and change the Basic auth password (write-only; the charger
        # reconnects with it).
        KeySpec("SecurityProfile", "int", str(security_profile), minimum=0, maximum=3),
        KeySpec("AuthorizationKey", "str", authorization_key, minimum=8, maximum=40, secret=True),
        KeySpec("CpoName", "str", "", maximum=64),  # O= of the charger's certificate signing request
        KeySpec("CertificateSignedMaxChainSize", "int", str(CERTIFICATE_CHAIN_MAX_CHARS), writable=False),
        KeySpec("CertificateStoreMaxLength", "int", str(CERTIFICATE_STORE_MAX), writable=False),
        KeySpec("AdditionalRootCertificateCheck", "bool", "false", writable=False),
    ]
    return {k.name: k for k in keys}


def normalise(spec: KeySpec, value: str) -> str | None:
    """The canonical string form of `value` for `spec`, or None when the value is invalid."""
    text = value.strip()
    if spec.kind == "bool":
        low = text.lower()
        return low if low in ("true", "false") else None
    if spec.kind == "int":
        try:
            number = int(text)
        except ValueError:
            return None
        if spec.minimum is not None and number < spec.minimum:
            return None
        if spec.maximum is not None and number > spec.maximum:
            return None
        return str(number)
    if spec.kind == "csl":
        items = [item.strip() for item in text.split(",") if item.strip()] if text else []
        if spec.allowed is not None and any(item not in spec.allowed for item in items):
            return None
        if spec.max_items is not None and len(items) > spec.max_items:
            return None
        return ",".join(items)
    if spec.minimum is not None and len(text) < spec.minimum:
        return None
    if spec.maximum is not None and len(text) > spec.maximum:
        return None
    return text


def preset_text(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ConfigurationStore:
    """Current configuration values, CSMS changes persisted in SQLite (table `ocpp_configuration`)."""

    def __init__(self, db: sqlite3.Connection, keys: dict[str, KeySpec],
                 presets: dict[str, bool | int | float | str]) -> None:
        self._db = db
        self.keys = keys
        db.execute("CREATE TABLE IF NOT EXISTS ocpp_configuration "
                   "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.commit()
        self._values = {name: spec.default for name, spec in keys.items()}
        for name, raw in presets.items():
            spec = keys.get(name)
            if spec is None:
                raise ValueError(f"ocpp.configuration.{name}: not a configuration key this charger supports "
                                 f"(supported: {', '.join(sorted(keys))})")
            if not spec.writable and not spec.preset:
                raise ValueError(f"ocpp.configuration.{name}: read-only key, cannot be preset")
            value = normalise(spec, preset_text(raw))
            if value is None:
                raise ValueError(f"ocpp.configuration.{name} = {raw!r}: {describe(spec)}")
            self._values[name] = value
        for name, value in db.execute("SELECT key, value FROM ocpp_configuration"):
            if name in keys and keys[name].writable:
                self._values[name] = value
        self._listeners: list[Callable[[str, str], None]] = []
        self._hidden: set[str] = set()
        self._guards: dict[str, Guard] = {}

    def guard(self, name: str, guard: Guard) -> None:
        """Let `guard` accept or refuse every valid ChangeConfiguration of `name`."""
        self._guards[name] = guard

    def set_value(self, name: str, value: str) -> None:
        """Store a value the charger itself decided (no guard, no listeners), e.g. a profile fallback."""
        self._values[name] = value
        self._db.execute("INSERT OR REPLACE INTO ocpp_configuration (key, value) VALUES (?, ?)",
                         (name, value))
        self._db.commit()

    def hide(self, name: str, value: str | None = None) -> None:
        """Take a key out of the CSMS's view (its feature profile is switched off); `value` pins what the
        charger itself reads from then on."""
        self._hidden.add(name)
        if value is not None:
            self._values[name] = value

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def get(self, name: str) -> str:
        return self._values[name]

    def get_int(self, name: str) -> int:
        return int(self._values[name])

    def get_bool(self, name: str) -> bool:
        return self._values[name] == "true"

    def get_list(self, name: str) -> list[str]:
        value = self._values[name]
        return value.split(",") if value else []

    def change(self, name: str, value: str) -> ChangeStatus:
        spec = self.keys.get(name)
        if spec is None or name in self._hidden:
            return "NotSupported"
        if not spec.writable:
            return "Rejected"
        canonical = normalise(spec, value)
        if canonical is None:
            return "Rejected"
        guard = self._guards.get(name)
        if guard is not None and (status := guard(canonical)) != "Accepted":
            return status
        self.set_value(name, canonical)
        for listener in self._listeners:
            listener(name, canonical)
        return "Accepted"

    def report(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names if names else [n for n in self.keys if n not in self._hidden]
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for n in wanted:
            spec = self.keys.get(n)
            if spec is None or n in self._hidden:
                unknown.append(n)
            else:
                entry: dict[str, object] = {"key": n, "readonly": not spec.writable}
                if not spec.secret:
                    entry["value"] = self._values[n]
                known.append(entry)
        return known, unknown


def describe(spec: KeySpec) -> str:
    if spec.kind == "bool":
        return "allowed: true or false"
    if spec.kind == "int":
        return f"allowed: an integer from {spec.minimum} to {spec.maximum}"
    if spec.allowed is not None:
        return f"allowed: a comma-separated list of {', '.join(spec.allowed)}"
    return "allowed: a comma-separated list"
