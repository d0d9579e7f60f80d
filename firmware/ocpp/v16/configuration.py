"""OCPP 1.6 configuration keys the charger supports: names, types, access, defaults and limits.

The store that validates, presets and persists them is version-neutral
(firmware/ocpp/common/keystore.py). Key names and semantics: OCPP 1.6 edition 2 §9.
"""

from __future__ import annotations

from firmware.display.texts import LANGUAGES
from firmware.ocpp.common.keystore import KeySpec

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
        # firmware/ocpp/common/link_security.py) and change the Basic auth password (write-only; the charger
        # reconnects with it).
        KeySpec("SecurityProfile", "int", str(security_profile), minimum=0, maximum=3),
        KeySpec("AuthorizationKey", "str", authorization_key, minimum=8, maximum=40, secret=True),
        KeySpec("CpoName", "str", "", maximum=64),  # O= of the charger's certificate signing request
        KeySpec("CertificateSignedMaxChainSize", "int", str(CERTIFICATE_CHAIN_MAX_CHARS), writable=False),
        KeySpec("CertificateStoreMaxLength", "int", str(CERTIFICATE_STORE_MAX), writable=False),
        KeySpec("AdditionalRootCertificateCheck", "bool", "false", writable=False),
    ]
    return {k.name: k for k in keys}


# ---- the keys of signed meter values (signed_values.py) and California pricing (cost_messages.py) ----
PUBLIC_KEY_MODES = ("Never", "OncePerTransaction", "EveryMeterValue")


def signed_keys(connector_ids: list[int]) -> dict[str, KeySpec]:
    keys = {f"MeterPublicKey{c}": KeySpec(f"MeterPublicKey{c}", "str", "", writable=False)
            for c in connector_ids}
    keys["PublicKeyWithSignedMeterValue"] = KeySpec(
        "PublicKeyWithSignedMeterValue", "csl", "OncePerTransaction", allowed=PUBLIC_KEY_MODES, max_items=1)
    return keys


def cost_keys(display: bool = True) -> dict[str, KeySpec]:
    keys = {
        "CustomDisplayCostAndPrice": KeySpec("CustomDisplayCostAndPrice", "bool",
                                             "true" if display else "false", writable=False),
        "NumberOfDecimalsForCostValues": KeySpec("NumberOfDecimalsForCostValues", "int", "2", writable=False,
                                                 minimum=0, maximum=6, preset=True),
        "DefaultPrice": KeySpec("DefaultPrice", "str", "", maximum=1000),
        "WaitForSetUserPriceTimeout": KeySpec("WaitForSetUserPriceTimeout", "int", "0", minimum=0,
                                              maximum=60000),
    }
    for language in LANGUAGES:
        name = f"DefaultPriceText,{language}"
        keys[name] = KeySpec(name, "str", "", maximum=1000)
    return keys
