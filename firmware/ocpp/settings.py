"""The `[ocpp]` section of the config file: where the CSMS is, how to authenticate, and timing bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from firmware.ocpp.rate_limit import RateLimitSettings
from firmware.ocpp.v16.configuration import describe, normalise, preset_text, standard_keys
from hal.config import IntFromText

Scalar = bool | int | float | str


class FirmwareSettings(BaseModel):
    """(Signed)UpdateFirmware: how a downloaded, verified firmware bundle is installed (neither the installer
    service nor a command configured: not offered). docs/firmware-signing.md describes the whole chain."""

    model_config = ConfigDict(extra="forbid")

    # The firmware installer service's directory (chargepi-update.service; tools/install.sh sets it up).
    update_dir: Path | None = None
    # Instead: argv list (the file is appended) or a shell string (the file is $1); exit 0 = installed.
    # It only ever gets a bundle that passed the signature and hash checks.
    install_command: list[str] | str = Field(default_factory=list)
    # Manufacturer root certificates (PEM files or directories) a firmware-signing certificate must chain to.
    trust_roots: list[Path] = Field(default_factory=lambda: [Path("/etc/chargepi/firmware-roots")])
    # DEVELOPMENT ONLY: also install bundles without a signature (logged as a warning at every use).
    allow_unsigned: bool = False
    ca_file: Path | None = None  # CA for HTTPS downloads; default: the system trust store
    download_timeout_s: float = Field(300.0, gt=0, le=3600)
    install_timeout_s: float = Field(1800.0, gt=0, le=7200)

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

    log_paths: list[Path] = Field(default_factory=list)  # files or directories
    journal_units: list[str] = Field(default_factory=lambda: ["chargepi"])  # systemd units' journals
    upload_method: Literal["PUT", "POST"] = "PUT"  # for http(s) locations
    upload_timeout_s: float = Field(120.0, gt=0, le=3600)


class OcppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^wss?://")  # CSMS endpoint; the charge point id is appended as a path part
    charge_point_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._\-]+$")
    # OCPP 1.6 security whitepaper profiles: 0 = none, 1 = HTTP Basic, 2 = TLS + HTTP Basic,
    # 3 = TLS with a client certificate (docs/security.md). The CSMS may raise it (SecurityProfile key).
    security_profile: Annotated[Literal[0, 1, 2, 3], IntFromText] = 0
    authorization_key: str | None = Field(None, min_length=8, max_length=40)  # Basic auth password
    # Profile 1 over ws:// sends the password in clear text to anyone on the path: refused unless this is
    # set (then warned at every connect). Meant for a CSMS behind a VPN or a TLS-terminating local proxy.
    allow_insecure_basic_auth: bool = False
    ca_file: Path | None = None  # CA that signed the CSMS server certificate (profiles 2 and 3)
    # Profile 3 client certificate (chain) and key provisioned at installation; a certificate the CSMS
    # signed later (SignCertificate / CertificateSigned) takes precedence.
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    # Endpoint for profiles 2 and 3 when `url` is ws:// and the CSMS upgrades the profile
    # (default: `url` with wss://).
    tls_url: str | None = Field(None, pattern=r"^wss://")
    # Off only for a private test CA whose certificate does not name the host; the chain is still verified.
    tls_check_hostname: bool = True
    reconnect_min_s: float = Field(2.0, gt=0, le=600)
    reconnect_max_s: float = Field(300.0, gt=0, le=3600)
    auth_failure_backoff_s: float = Field(600.0, gt=0, le=86400)  # after 401/403/TLS failures
    ping_interval_s: float = Field(30.0, ge=0, le=3600)  # websocket ping; 0 = off
    response_timeout_s: float = Field(30.0, gt=0, le=300)
    # idTag reported for sessions started without a token (free charging)
    free_charging_id_tag: str = Field("FreeCharging", min_length=1, max_length=20)
    log_frames: bool = False  # log every OCPP frame (INFO); off by default to spare flash storage
    # validate our own replies against the OCPP schemas before sending (debugging; see v16/dispatch.py)
    validate_replies: bool = False
    # Standard OCPP configuration keys preset by their OCPP names, e.g. HeartbeatInterval = 300.
    configuration: dict[str, Scalar] = Field(default_factory=dict)
    firmware: FirmwareSettings = Field(default_factory=lambda: FirmwareSettings())
    diagnostics: DiagnosticsSettings = Field(default_factory=lambda: DiagnosticsSettings())
    # CSMS requests per action; more are refused with a CALLERROR (firmware/ocpp/rate_limit.py)
    rate_limit: RateLimitSettings = Field(default_factory=lambda: RateLimitSettings())

    @field_validator("configuration", mode="before")
    @classmethod
    def _key_names(cls, value: Any) -> Any:
        """OCPP key names in any case (the environment lower-cases them): their standard spelling."""
        if not isinstance(value, dict):
            return value
        names = {name.lower(): name for name in standard_keys(1, "")}
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
        keys = standard_keys(1, "")
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
