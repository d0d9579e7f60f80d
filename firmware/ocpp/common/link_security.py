"""How the OCPP link authenticates: security profile in effect, endpoint, TLS setup, upgrade and fallback.

Security profiles (OCPP 1.6 security whitepaper ed. 2 §2; the same numbers in OCPP 2.0.1 A00):
0 none, 1 HTTP Basic, 2 TLS + HTTP Basic, 3 TLS with a client certificate. The profile in effect is the
`SecurityProfile` configuration key; this module guards its changes:

* remotely it only goes up, and only when the new profile's prerequisites exist (password, a trust
  anchor for the server, a client certificate);
* an accepted upgrade is tried on the next connection (the caller reconnects after answering); if that
  connection attempt fails, the previous profile (and so the previous URL) is restored at once;
* a technician's change of `security_profile` in the config file overrides what the CSMS set;
* a client certificate the CSMS signed is tried at the next connection; if the CSMS refuses it there,
  the previous one is restored and used at once.

TLS trust anchors are the configured `ca_file` plus the installed CSMS roots (the system store only when
there are none); the client identity for profile 3 is the one the CSMS signed (certificate store) or else
the configured files. Connection failures are classified into security events (docs/security.md §5).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from websockets.exceptions import InvalidMessage, InvalidStatus

from firmware.ocpp.common.keystore import ChangeStatus, ConfigurationStore
from firmware.ocpp.settings import OcppSettings
from firmware.security.certificates import CertificateKind, CertificateStore
from firmware.security.events import SecurityEventType, SecurityLog
from firmware.security.settings_watch import SettingsWatch, file_content, tree_content
from firmware.storage.database import StateDatabase
from firmware.storage.key_values import KeyValues

log = logging.getLogger(__name__)

KEY = "SecurityProfile"
# OpenSSL reasons (ssl.SSLError.reason) that say what went wrong in a handshake.
_TLS_VERSION = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE",
                "TLSV1_ALERT_INAPPROPRIATE_FALLBACK"}
_TLS_CIPHER = {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH", "SSLV3_ALERT_HANDSHAKE_FAILURE",
               "TLSV1_ALERT_INSUFFICIENT_SECURITY"}
_CERT_REFUSED = {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
                 "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                 "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
                 "TLSV1_ALERT_ACCESS_DENIED", "TLSV1_ALERT_DECRYPT_ERROR"}


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Where and how the next connection attempt goes."""

    endpoint: str
    security_profile: int
    ssl: ssl.SSLContext | None

    @property
    def basic_auth(self) -> bool:
        return self.security_profile in (1, 2)


def _ssl_errors(exc: BaseException) -> list[ssl.SSLError]:
    """The SSL errors in an exception and its causes (websockets wraps some of them)."""
    found: list[ssl.SSLError] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 5:
        if isinstance(seen, ssl.SSLError):
            found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def classify_failure(exc: BaseException) -> tuple[SecurityEventType, str] | None:
    """The security event a failed connection attempt amounts to, with technical detail, if any."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
        return SecurityEventType.FAILED_TO_AUTHENTICATE_AT_CSMS, f"HTTP {exc.response.status_code}"
    for error in _ssl_errors(exc):
        if isinstance(error, ssl.SSLCertVerificationError):
            return SecurityEventType.INVALID_CSMS_CERTIFICATE, str(error.verify_message or error)
        reason = str(error.reason or "")
        if reason in _TLS_VERSION:
            return SecurityEventType.INVALID_TLS_VERSION, reason
        if reason in _CERT_REFUSED:
            return SecurityEventType.FAILED_TO_AUTHENTICATE_AT_CSMS, f"TLS alert {reason}"
        if reason in _TLS_CIPHER:
            return SecurityEventType.INVALID_TLS_CIPHER_SUITE, reason
    return None


def _certificate_refused(exc: BaseException, event: tuple[SecurityEventType, str] | None) -> bool:
    """Did the server refuse our client certificate? With TLS 1.3 the refusal arrives after the client
    finished its handshake, and websockets reports only that the connection closed before the HTTP
    response (the alert is lost), so that counts too."""
    if event is not None:
        return event[0] == SecurityEventType.FAILED_TO_AUTHENTICATE_AT_CSMS
    return isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError)


class LinkSecurity:
    def __init__(self, settings: OcppSettings, db: StateDatabase, config: ConfigurationStore,
                 store: CertificateStore, events: SecurityLog) -> None:
        self._settings = settings
        self._config = config
        self._store = store
        self._events = events
        self._kept = KeyValues(db, "ocpp_link_security")
        file_profile = str(settings.security_profile)
        if self._kept.get("file_profile") != file_profile:
            # First start, or a technician changed the config file: the file wins over a CSMS upgrade.
            config.set_value(KEY, file_profile)
            self._kept.set("file_profile", file_profile)
            self._kept.set("previous", None)
        config.guard(KEY, self._guard)
        self._failures_logged: set[SecurityEventType] = set()
        changed = SettingsWatch(db).changed(self._watched())
        if changed:
            events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                          f"changed on the charger since the last start: {', '.join(changed)}")

    def _watched(self) -> dict[str, bytes | None]:
        """The settings whose change outside OCPP is a security event (values never leave SettingsWatch)."""
        s = self._settings
        values = {"security_profile": s.security_profile, "url": s.url, "tls_url": s.tls_url,
                  "authorization_key": s.authorization_key,
                  "allow_insecure_basic_auth": s.allow_insecure_basic_auth,
                  "tls_check_hostname": s.tls_check_hostname,
                  "firmware.allow_unsigned": s.firmware.allow_unsigned}
        watched = {f"ocpp.{name}": None if value is None else str(value).encode()
                   for name, value in values.items()}
        for name, path in (("ca_file", s.ca_file), ("client_cert_file", s.client_cert_file),
                           ("client_key_file", s.client_key_file)):
            watched[f"ocpp.{name}"] = file_content(path)
        watched["ocpp.firmware.trust_roots"] = tree_content(s.firmware.trust_roots)
        return watched

    # ---- state --------------------------------------------------------------------------------------
    @property
    def profile(self) -> int:
        return self._config.get_int(KEY)

    @property
    def upgrading_from(self) -> int | None:
        """The profile an upgrade not yet proven by a connection would fall back to."""
        previous = self._kept.get("previous")
        return None if previous is None else int(previous)

    def trust_anchors_pem(self) -> str:
        """The PEM text of every trust anchor for the CSMS server certificate (configured + installed)."""
        text = self._store.roots_pem(CertificateKind.CSMS_ROOT)
        ca_file = self._settings.ca_file
        if ca_file is not None:
            try:
                text = ca_file.read_text() + text
            except OSError as exc:
                log.error("cannot read ca_file %s: %s", ca_file, exc)
        return text

    def client_identity(self) -> tuple[Path, Path] | None:
        """(certificate chain file, key file) for profile 3: the CSMS-signed one, else the configured."""
        identity = self._store.identity()
        if identity is not None:
            return identity.cert_file, identity.key_file
        if self._settings.client_cert_file is not None and self._settings.client_key_file is not None:
            return self._settings.client_cert_file, self._settings.client_key_file
        return None

    def endpoint(self, profile: int) -> str:
        url = self._settings.url
        if profile >= 2 and not url.startswith("wss://"):
            url = self._settings.tls_url or "wss://" + url.removeprefix("ws://")
        return url.rstrip("/") + "/" + self._settings.charge_point_id

    def ssl_context(self, profile: int) -> ssl.SSLContext:
        anchors = self.trust_anchors_pem()
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=anchors or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = self._settings.tls_check_hostname  # the chain is verified either way
        identity = self.client_identity() if profile == 3 else None
        if identity is not None:
            ctx.load_cert_chain(identity[0], identity[1])
        return ctx

    def target(self) -> LinkTarget:
        profile = self.profile
        endpoint = self.endpoint(profile)
        context = self.ssl_context(profile) if endpoint.startswith("wss://") else None
        return LinkTarget(endpoint, profile, context)

    # ---- upgrade ------------------------------------------------------------------------------------
    def refusal(self, new: int) -> str | None:
        """Why the profile cannot become `new` now (None: it can)."""
        current = self.profile
        if new < current:
            return f"downgrade from {current} to {new} is only possible in the config file"
        return self.missing_for(new, self.endpoint(new))

    def missing_for(self, new: int, endpoint: str) -> str | None:
        """What a connection to `endpoint` with security profile `new` lacks here (None: nothing)."""
        if new in (1, 2) and not self._config.get("AuthorizationKey"):
            return f"profile {new} needs an AuthorizationKey"
        if new == 1 and endpoint.startswith("ws://") and not self._settings.allow_insecure_basic_auth:
            return "profile 1 over ws:// would send the password in clear text (allow_insecure_basic_auth)"
        if new >= 2 and not self.trust_anchors_pem():
            return f"profile {new} needs an installed CentralSystemRootCertificate (or ca_file)"
        if new == 3 and self.client_identity() is None:
            return "profile 3 needs a client certificate (SignCertificate / CertificateSigned)"
        return None

    def _guard(self, value: str) -> ChangeStatus:
        new = int(value)
        current = self.profile
        if new == current:
            return "Accepted"
        reason = self.refusal(new)
        if reason is not None:
            log.warning("SecurityProfile %d refused: %s", new, reason)
            return "Rejected"
        self._kept.set("previous", str(current))
        self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                            f"SecurityProfile {current} -> {new}")
        log.warning("security profile %d -> %d requested by the CSMS; trying it on the next connection",
                    current, new)
        return "Accepted"

    # ---- link outcome -------------------------------------------------------------------------------
    def link_up(self) -> None:
        """A connection was established with the current target: an upgrade is now proven."""
        self._failures_logged.clear()
        if self.profile == 3:
            self._store.identity_proven()
        previous = self.upgrading_from
        if previous is not None:
            self._kept.set("previous", None)
            log.warning("security profile %d in effect (was %d)", self.profile, previous)

    def link_failed(self, exc: BaseException, endpoint: str | None = None) -> bool:
        """Record what a failed connection attempt (to `endpoint`, default this profile's) means; True when
        falling back (retry at once)."""
        event = classify_failure(exc)
        if event is not None and event[0] not in self._failures_logged:
            # Once per kind until a connection succeeds: a CSMS with a bad certificate for a week must
            # not fill the log (and the CSMS's queue) with one event per retry.
            self._failures_logged.add(event[0])
            self._events.record(event[0], f"{endpoint or self.endpoint(self.profile)}: {event[1]}")
        if self.profile == 3 and self._store.identity_untried and _certificate_refused(exc, event):
            # The CSMS refuses the certificate it just signed: go back to the one that worked.
            self._store.restore_previous_identity()
            self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                f"new client certificate refused ({exc}): previous one restored")
            log.error("the CSMS refused our new client certificate (%s): using the previous one", exc)
            return True
        previous = self.upgrading_from
        if previous is None:
            return False
        failed = self.profile
        self._config.set_value(KEY, str(previous))
        self._kept.set("previous", None)
        self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                            f"SecurityProfile {failed} failed ({type(exc).__name__}); back to {previous}")
        log.error("connecting with security profile %d failed (%s): back to profile %d", failed, exc,
                  previous)
        return True
