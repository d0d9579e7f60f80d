"""The `[ocpp]` section of the config file: where the CSMS is, how to authenticate, and timing bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from firmware.ocpp.catalogue import (
    DEFAULT_VERSION,
    check_version,
    configuration_key_names,
    configuration_keys,
)
from firmware.ocpp.common.keystore import describe, normalise, preset_text
from firmware.ocpp.common.rate_limit import RateLimitSettings
from hal.config import IntFromText

Scalar = bool | int | float | str


class FirmwareSettings(BaseModel):
    """(Signed)UpdateFirmware: how a downloaded, verified firmware bundle is installed (neither the installer
    service nor a command configured: not offered). docs/firmware-signing.md describes the whole chain."""

    model_config = ConfigDict(extra="forbid")

    update_dir: Path | None = Field(
        None,
        description="The firmware installer service's spool directory (chargepi-update.service; "
                    "tools/install.sh sets it up).")
    install_command: list[str] | str = Field(
        default_factory=list,
        description="Instead of update_dir: an argv list (the file is appended) or a shell string (the file "
                    "is $1); exit status 0 = installed. It only ever gets a bundle that passed the "
                    "signature and hash checks.")
    trust_roots: list[Path] = Field(
        default_factory=lambda: [Path("/etc/chargepi/firmware-roots")],
        description="Manufacturer root certificates (PEM files or directories) a firmware-signing "
                    "certificate must chain to.")
    allow_unsigned: bool = Field(
        False,
        description="DEVELOPMENT ONLY: also install bundles without a signature (logged as a warning at "
                    "every use).")
    ca_file: Path | None = Field(
        None,
        description="CA for HTTPS firmware downloads (default: the system trust store).")
    download_timeout_s: float = Field(
        300.0, gt=0, le=3600,
        description="A firmware download is given up after this long.")
    install_timeout_s: float = Field(
        1800.0, gt=0, le=7200,
        description="An install command still running after this long is killed (InstallationFailed).")

    @model_validator(mode="after")
    def _one_installer(self) -> FirmwareSettings:
        if self.update_dir is not None and self.install_command:
            raise ValueError("give update_dir or install_command, not both")
        return self

    @property
    def enabled(self) -> bool:
        return self.update_dir is not None or bool(self.install_command)


class DiagnosticsSettings(BaseModel):
    """GetDiagnostics: what goes into the archive and how it is uploaded."""

    model_config = ConfigDict(extra="forbid")

    log_paths: list[Path] = Field(
        default_factory=list,
        description="Log files or directories to put into a GetDiagnostics archive.")
    journal_units: list[str] = Field(
        default_factory=lambda: ["chargepi"],
        description="systemd units whose journal goes into the archive.")
    upload_method: Literal["PUT", "POST"] = Field(
        "PUT",
        description="`PUT` or `POST` (multipart) for http(s) upload locations.")
    upload_timeout_s: float = Field(
        120.0, gt=0, le=3600,
        description="A diagnostics upload is given up after this long.")


class OcppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        pattern=r"^wss?://",
        description="CSMS endpoint, ws:// or wss://; /<charge_point_id> is appended.")
    charge_point_id: str = Field(
        min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._\-]+$",
        description="Identity of this charger at the CSMS: letters, digits, `.`, `_`, `-`.")
    version: str = Field(
        DEFAULT_VERSION,
        description="OCPP version spoken to the CSMS: \"1.6\" (OCPP 1.6J). \"2.0.1\" is reserved for the "
                    "OCPP 2.0.1 package; a version this build does not have is a config error that names "
                    "the allowed values.")
    security_profile: Annotated[Literal[0, 1, 2, 3], IntFromText] = Field(
        0,
        description="0 none, 1 HTTP Basic, 2 TLS + HTTP Basic, 3 TLS with a client certificate (OCPP 1.6 "
                    "security whitepaper, docs/security.md); the CSMS may raise it (SecurityProfile key).")
    authorization_key: str | None = Field(
        None, min_length=8, max_length=40,
        description="HTTP Basic password (8 to 40 characters), required for profiles 1 and 2; kept in "
                    "secrets.toml.")
    allow_insecure_basic_auth: bool = Field(
        False,
        description="Allow profile 1 over ws:// (the password travels in clear text; warned at every "
                    "connect). For a CSMS behind a VPN or a TLS-terminating local proxy.")
    ca_file: Path | None = Field(
        None,
        description="CA that signed the CSMS server certificate (profiles 2 and 3; default: the system "
                    "trust store).")
    client_cert_file: Path | None = Field(
        None,
        description="Profile 3: the client certificate (chain) provisioned at installation; one the CSMS "
                    "signed later (SignCertificate / CertificateSigned) takes precedence.")
    client_key_file: Path | None = Field(
        None,
        description="Profile 3: the private key of client_cert_file.")
    tls_url: str | None = Field(
        None, pattern=r"^wss://",
        description="Endpoint for profiles 2 and 3 when `url` is ws:// and the CSMS upgrades the profile "
                    "(default: `url` with wss://).")
    tls_check_hostname: bool = Field(
        True,
        description="Check that the server certificate names the host. Off only for a private test CA; the "
                    "chain is still verified.")
    reconnect_min_s: float = Field(
        2.0, gt=0, le=600,
        description="Lower bound of the reconnect backoff.")
    reconnect_max_s: float = Field(
        300.0, gt=0, le=3600,
        description="Upper bound of the reconnect backoff.")
    auth_failure_backoff_s: float = Field(
        600.0, gt=0, le=86400,
        description="Pause after HTTP 401/403 or a TLS failure before trying again.")
    ping_interval_s: float = Field(
        30.0, ge=0, le=3600,
        description="Default of WebSocketPingInterval; 0 = no websocket pings.")
    response_timeout_s: float = Field(
        30.0, gt=0, le=300,
        description="How long to wait for the CSMS's answer to one message.")
    free_charging_id_tag: str = Field(
        "FreeCharging", min_length=1, max_length=20,
        description="idTag reported for sessions without a token (station.free_charging); the CSMS must "
                    "accept it.")
    log_frames: bool = Field(
        False,
        description="Log every OCPP frame at INFO (credentials masked). Off: the `ocpp` logger is set to "
                    "WARNING.")
    validate_replies: bool = Field(
        False,
        description="Validate our own replies against the OCPP schemas before sending (debugging).")
    configuration: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Presets for OCPP configuration keys by their OCPP names, e.g. HeartbeatInterval = 300; "
                    "a value the CSMS set with ChangeConfiguration wins.")
    device_model: dict[str, Scalar] = Field(
        default_factory=dict,
        description="OCPP 2.0.1: presets for device-model variables by their spec names, keyed "
                    "`[EVSE#<evse>[/<connector>].]<Component>[[<instance>]].<Variable>[[<instance>]]`, e.g. "
                    "\"OCPPCommCtrlr.MessageAttempts[TransactionEvent]\" = 3 or \"EVSE#1/1.Connector."
                    "ConnectorType\" = \"cType1\" (docs/ocpp201.md); a value the CSMS set with SetVariables "
                    "wins.")
    firmware: FirmwareSettings = Field(default_factory=lambda: FirmwareSettings())
    diagnostics: DiagnosticsSettings = Field(default_factory=lambda: DiagnosticsSettings())
    # CSMS requests per action; more are refused with a CALLERROR (firmware/ocpp/common/rate_limit.py)
    rate_limit: RateLimitSettings = Field(default_factory=lambda: RateLimitSettings())

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        return check_version(value)

    @field_validator("configuration", mode="before")
    @classmethod
    def _key_names(cls, value: Any) -> Any:
        """OCPP key names in any case (the environment lower-cases them): their standard spelling."""
        if not isinstance(value, dict):
            return value
        names = {name.lower(): name for name in configuration_key_names()}
        return {names.get(str(key).lower(), key): item for key, item in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> OcppSettings:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("need reconnect_min_s <= reconnect_max_s")
        if self.security_profile in (1, 2) and not self.authorization_key:
            raise ValueError(f"security_profile {self.security_profile} needs authorization_key")
        if self.security_profile == 1 and self.url.startswith("ws://") and not self.allow_insecure_basic_auth:
            raise ValueError("security_profile 1 over ws:// sends the password in clear text: use a wss:// "
                             "url (security_profile 2), or set ocpp.allow_insecure_basic_auth = true")
        if "@" in urlsplit(self.url).netloc:
            raise ValueError("no user:password in ocpp.url: set ocpp.authorization_key and security_profile")
        if self.security_profile >= 2 and not self.url.startswith("wss://"):
            raise ValueError(f"security_profile {self.security_profile} needs a wss:// url")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together")
        if self.security_profile == 3 and self.client_cert_file is None:
            raise ValueError("security_profile 3 needs client_cert_file and client_key_file")
        if self.ca_file is not None and not (self.url.startswith("wss://") or self.tls_url):
            raise ValueError("ca_file is only used with a wss:// url (or tls_url)")
        if not self.tls_check_hostname and not (self.url.startswith("wss://") or self.tls_url):
            raise ValueError("tls_check_hostname is only used with a wss:// url")
        keys = configuration_keys()
        for name, raw in self.configuration.items():
            spec = keys.get(name)
            if spec is None:
                raise ValueError(f"configuration.{name}: not a configuration key this charger supports")
            if not spec.writable and not spec.preset:
                raise ValueError(f"configuration.{name}: read-only key, cannot be preset")
            if name == "SecurityProfile":
                raise ValueError("configuration.SecurityProfile: set security_profile instead")
            if normalise(spec, preset_text(raw)) is None:
                raise ValueError(f"configuration.{name} = {raw!r}: {describe(spec)}")
        return self

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + self.charge_point_id
