"""Certificate management both OCPP versions share: what InstallCertificate, DeleteCertificate,
GetInstalledCertificateIds, SignCertificate and CertificateSigned mean on the charger's certificate store
(firmware/security/certificates.py) and its security log. OCPP 1.6 (security whitepaper,
firmware/ocpp/v16/security.py) and 2.0.1 (M03-M05, A02/A03, firmware/ocpp/v201/certificates.py) only map
their message names and answers onto this.

* install: a root of a kind the store keeps (CSMS roots; manufacturer roots are provisioned, never
  installed remotely), checked (a CA certificate, valid now) and stored; ReconfigurationOfSecurityParameters
  for a new one, InvalidCsmsCertificate for a refused CSMS root.
* delete: by CertificateHashData; refused (Failed) for a manufacturer root, for the last CSMS root a TLS
  link needs, and for the station's own certificate (2.0.1 M04.FR.06, the 1.6 whitepaper's M04.FR.05).
* CertificateSigned: the chain must be for the pending request's key and subject, valid now and chain to a
  trusted CSMS root; then it is the TLS client identity of the next connection (firmware/ocpp/common/
  link_security.py). A refused one is the InvalidChargingStationCertificate security event.
* `CertificateSigning`: a new key and CSR, SignCertificate, and the retry timer: while no acceptable
  CertificateSigned came, SignCertificate again with the same CSR after `wait_minimum` seconds, doubling
  the wait each time, at most `repeat_times` times (2.0.1 CertSigningWaitMinimum / CertSigningRepeatTimes,
  docs/reference/ocpp201.md §20). A new request ends the retries of the one before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ocpp.exceptions import OCPPError

from firmware.ocpp.common.link_security import LinkSecurity
from firmware.security.certificates import (
    CertificateHashData,
    CertificateKind,
    CertificateRejected,
    CertificateStore,
    DeleteStatus,
    InstallStatus,
    hash_data,
    load_chain,
)
from firmware.security.events import SecurityEventType, SecurityLog
from hal.clock import Clock

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)

SendCsr = Callable[[str], Awaitable[str]]  # SignCertificate with this CSR → the CSMS's status


class CertificateManager:
    """The certificate messages' effects, version-neutral: statuses in, security events out."""

    def __init__(self, store: CertificateStore, link_security: LinkSecurity, events: SecurityLog,
                 clock: Clock, ca_file_configured: bool) -> None:
        self.store = store
        self._link_security = link_security
        self._events = events
        self._clock = clock
        self._ca_file_configured = ca_file_configured

    def install(self, kind: CertificateKind, type_name: str, pem: str) -> InstallStatus:
        """Install a root certificate of `kind` (`type_name`: the message's name of it, for the log)."""
        status, reason = self.store.install(kind, pem, self._clock.now())
        if status == InstallStatus.ACCEPTED and reason != "already installed":
            self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                f"{type_name} installed: {reason}")
        elif status != InstallStatus.ACCEPTED:
            log.warning("InstallCertificate %s %s: %s", type_name, status, reason)
            if kind == CertificateKind.CSMS_ROOT:
                self._events.record(SecurityEventType.INVALID_CSMS_CERTIFICATE,
                                    f"InstallCertificate: {reason}")
        return status

    def installed(self, kind: CertificateKind) -> list[CertificateHashData]:
        return [data for data, _ in self.store.installed(kind)]

    def delete(self, wanted: CertificateHashData) -> DeleteStatus:
        if self._is_own_certificate(wanted):
            log.warning("DeleteCertificate of the station's own certificate refused")
            return DeleteStatus.FAILED
        found = self.store.find(wanted)
        if found is None:
            return DeleteStatus.NOT_FOUND
        kind, path = found
        if not self.store.writable(kind) or self._last_needed_root(kind):
            log.warning("DeleteCertificate of %s refused", path.name)
            return DeleteStatus.FAILED
        status = self.store.delete(path)
        if status == DeleteStatus.ACCEPTED:
            self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                f"{kind} {path.stem[:16]} deleted")
        return status

    def _last_needed_root(self, kind: CertificateKind) -> bool:
        """Deleting the only CSMS root would leave a TLS profile without any trust anchor."""
        return (kind == CertificateKind.CSMS_ROOT and self._link_security.profile >= 2
                and not self._ca_file_configured and len(self.store.roots(kind)) <= 1)

    def own_certificate(self) -> x509.Certificate | None:
        """The station's TLS client certificate (signed by the CSMS, else the configured one), if any."""
        identity = self._link_security.client_identity()
        if identity is None:
            return None
        try:
            return load_chain(identity[0].read_bytes())[0]
        except (OSError, CertificateRejected):
            return None

    def _is_own_certificate(self, wanted: CertificateHashData) -> bool:
        """Does `wanted` name the station's certificate? The issuer's name and the serial number identify
        a certificate (X.509); the issuer's key may not be on the charger to compare."""
        own = self.own_certificate()
        if own is None:
            return False
        mine = hash_data(own, algorithm=wanted.hash_algorithm)
        return (mine.issuer_name_hash.lower() == wanted.issuer_name_hash.lower()
                and mine.serial_number.lstrip("0") == wanted.serial_number.lower().lstrip("0"))

    def certificate_signed(self, chain_pem: str, max_chars: int) -> bool:
        """Check a CertificateSigned chain and swap it in as the identity of the next connection."""
        try:
            if len(chain_pem) > max_chars:
                raise CertificateRejected(f"chain longer than {max_chars} characters")
            anchors = self._link_security.trust_anchors_pem()
            trusted = load_chain(anchors) if anchors else []
            identity = self.store.accept_certificate(chain_pem, self._clock.now(), trusted)
        except CertificateRejected as exc:
            self.refused_certificate(str(exc))
            return False
        self._events.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                            f"new client certificate {identity.certificate.subject.rfc4514_string()}, "
                            f"valid until {identity.certificate.not_valid_after_utc.isoformat()}")
        return True

    def refused_certificate(self, reason: str) -> None:
        log.warning("CertificateSigned refused: %s", reason)
        self._events.record(SecurityEventType.INVALID_CHARGING_STATION_CERTIFICATE, reason)


class CertificateSigning:
    """SignCertificate with a new CSR, repeated while no acceptable CertificateSigned arrives."""

    def __init__(self, store: CertificateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._generation = 0

    async def request(self, common_name: str, organization: str | None, send: SendCsr,
                      wait_minimum: float = 0, repeat_times: int = 0) -> None:
        """New key pair and CSR (the key stays on the charger); SignCertificate, then up to `repeat_times`
        more after wait_minimum * 2^n seconds while the request is still pending. A refusal by the CSMS
        ends it; a request that got no answer counts as one without a certificate."""
        self._generation += 1
        generation = self._generation
        csr = await asyncio.to_thread(self._store.create_csr, common_name, organization)
        for attempt in range(repeat_times + 1):
            if attempt:
                await self._clock.sleep(wait_minimum * 2 ** (attempt - 1))
                if generation != self._generation or not self._store.signing_pending:
                    return
                log.warning("no certificate for our signing request yet: SignCertificate again (%d of %d)",
                            attempt, repeat_times)
            try:
                status = await send(csr)
            except (OCPPError, TimeoutError, ConnectionError) as exc:
                log.warning("SignCertificate not answered: %s", exc)
                continue
            if status != "Accepted":
                log.warning("the CSMS refused to sign our certificate request (%s)", status)
                return
