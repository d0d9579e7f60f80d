"""The certificate store: trusted root certificates and the charger's own TLS client identity, on disk.

Layout under `<state_dir>/certificates/` (directories 0700, private keys 0600, written atomically):

* `csms-root/<sha256>.pem`: roots the back end's TLS server certificate must chain to (OCPP 1.6
  "CentralSystemRootCertificate", 2.0.1 "CSMSRootCertificate");
* manufacturer roots (a firmware signing certificate must chain to one) are not stored here: they are the
  files the charger is provisioned with (`[ocpp.firmware] trust_roots`, owned by root), read-only to the
  store, which only lists them;
* `identity/identity.pem` (0600): the charger's client private key followed by its certificate chain
  (security profile 3), one file so that a swap is a single atomic rename; `identity/pending-key.pem` +
  `pending-csr.pem`: the key of a signing request still waiting for its certificate;
  `identity/previous-identity.pem`: the identity before the last swap, put back if the new one is
  refused at the first connection that tries it (`identity/untried` marks that state).

Private keys are generated here and never leave the charger: only the CSR (public key + subject) goes out.
A signed certificate is accepted only if it carries the pending key's public key and the subject asked
for, is valid now, and its chain verifies up to a trusted root (`accept_certificate`).

Certificates are identified as in OCSP / OCPP CertificateHashData: SHA-256 of the issuer's DER name, of
the issuer's public key (the bit string), and the serial number in hex (lower case, no leading zeros).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography is imported where it is used: it costs start-up time
    from cryptography import x509

DEFAULT_MAX_CERTIFICATES = 20  # roots of all kinds together
MAX_CHAIN = 5


class CertificateKind(StrEnum):
    CSMS_ROOT = "csms-root"
    MANUFACTURER_ROOT = "manufacturer-root"


class InstallStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"  # not a usable root certificate, or the store is full
    FAILED = "Failed"  # could not be stored


class DeleteStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"


class CertificateRejected(Exception):
    """A certificate (or chain) is not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def matches(self, other: CertificateHashData) -> bool:
        return (self.hash_algorithm == other.hash_algorithm
                and self.issuer_name_hash.lower() == other.issuer_name_hash.lower()
                and self.issuer_key_hash.lower() == other.issuer_key_hash.lower()
                and self.serial_number.lower().lstrip("0") == other.serial_number.lower().lstrip("0"))


@dataclass(frozen=True, slots=True)
class Identity:
    cert_file: Path
    key_file: Path
    certificate: x509.Certificate


_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING content of a certificate (what issuerKeyHash hashes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise CertificateRejected(f"unsupported public key type {type(key).__name__}")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None,
              algorithm: str = "SHA256") -> CertificateHashData:
    """CertificateHashData of `cert`; `issuer` defaults to `cert` itself (a self-signed root)."""
    digest = _HASHES[algorithm]
    issuer_cert = issuer or cert
    return CertificateHashData(algorithm, digest(cert.issuer.public_bytes()).hexdigest(),
                               digest(public_key_bits(issuer_cert)).hexdigest(),
                               format(cert.serial_number, "x"))


def fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes
    return cert.fingerprint(hashes.SHA256()).hex()


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; CertificateRejected if there is none or one is broken."""
    from cryptography import x509
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateRejected(f"not a PEM certificate: {exc}") from None
    if not chain:
        raise CertificateRejected("no certificate in the PEM text")
    return chain


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def check_validity(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateRejected(f"{_subject(cert)} is not valid before {cert.not_valid_before_utc}")
    if now > cert.not_valid_after_utc:
        raise CertificateRejected(f"{_subject(cert)} expired on {cert.not_valid_after_utc}")


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> None:
    """Raise CertificateRejected unless chain[0] chains through chain[1:] (CA certificates) to a root.

    Every certificate on the way must be valid at `now`; a chain that already ends in one of the roots is
    fine. An empty `roots` is never trusted.
    """
    if len(chain) > MAX_CHAIN:
        raise CertificateRejected(f"chain of {len(chain)} certificates is longer than {MAX_CHAIN}")
    for cert in chain:
        check_validity(cert, now)
    for cert, issuer in itertools.pairwise(chain):
        if not _is_ca(issuer) or not _issued_by(cert, issuer):
            raise CertificateRejected(f"{_subject(cert)} is not issued by {_subject(issuer)}")
    top = chain[-1]
    for root in roots:
        if fingerprint(root) == fingerprint(top) or (_is_ca(root) and _issued_by(top, root)):
            check_validity(root, now)
            return
    raise CertificateRejected(f"{_subject(top)} does not chain to a trusted root")


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by the owner only, atomically (a temporary file renamed over the target)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


class CertificateStore:
    def __init__(self, directory: Path, max_certificates: int = DEFAULT_MAX_CERTIFICATES,
                 manufacturer_roots: Sequence[Path] = ()) -> None:
        self.directory = directory
        self.max_certificates = max_certificates
        self._manufacturer_sources = list(manufacturer_roots)
        for sub in (directory, directory / CertificateKind.CSMS_ROOT, directory / "identity"):
            sub.mkdir(parents=True, exist_ok=True)
            sub.chmod(0o700)
        self._identity = directory / "identity"

    # ---- roots --------------------------------------------------------------------------------------
    def _files(self, kind: CertificateKind) -> list[Path]:
        if kind == CertificateKind.CSMS_ROOT:
            return sorted((self.directory / kind).glob("*.pem"))
        files: list[Path] = []
        for source in self._manufacturer_sources:
            if source.is_dir():
                files.extend(sorted([*source.glob("*.pem"), *source.glob("*.crt")]))
            elif source.is_file():
                files.append(source)
        return files

    def _roots_with_files(self, kind: CertificateKind) -> list[tuple[x509.Certificate, Path]]:
        found: list[tuple[x509.Certificate, Path]] = []
        for path in self._files(kind):
            with contextlib.suppress(OSError, CertificateRejected):
                found.extend((cert, path) for cert in load_chain(path.read_bytes()))
        return found

    def roots(self, kind: CertificateKind) -> list[x509.Certificate]:
        return [cert for cert, _ in self._roots_with_files(kind)]

    def writable(self, kind: CertificateKind) -> bool:
        """May certificates of this kind be installed and deleted here (manufacturer roots: never)?"""
        return kind == CertificateKind.CSMS_ROOT

    def manufacturer_roots(self) -> list[x509.Certificate]:
        """The roots a firmware signing certificate must chain to."""
        return self.roots(CertificateKind.MANUFACTURER_ROOT)

    def roots_pem(self, kind: CertificateKind) -> str:
        return _pem(self.roots(kind)).decode()

    def count(self) -> int:
        """The CSMS roots installed (what max_certificates limits)."""
        return len(self._files(CertificateKind.CSMS_ROOT))

    def entries(self) -> int:
        """Every root certificate on the charger, CSMS and manufacturer (GetInstalledCertificateIds lists
        them; OCPP 2.0.1 SecurityCtrlr.CertificateEntries)."""
        return len(self.roots(CertificateKind.CSMS_ROOT)) + len(self.manufacturer_roots())

    def install(self, kind: CertificateKind, pem: str, now: datetime) -> tuple[InstallStatus, str]:
        """Add a root certificate; (status, reason). Installing one that is already there is Accepted."""
        if not self.writable(kind):
            return InstallStatus.REJECTED, "manufacturer roots are provisioned on the charger (trust_roots)"
        try:
            chain = load_chain(pem)
            if len(chain) != 1:
                raise CertificateRejected(f"expected one certificate, got {len(chain)}")
            cert = chain[0]
            if not _is_ca(cert):
                raise CertificateRejected(f"{_subject(cert)} is not a CA certificate")
            check_validity(cert, now)
        except CertificateRejected as exc:
            return InstallStatus.REJECTED, str(exc)
        target = self.directory / kind / f"{fingerprint(cert)}.pem"
        if target.exists():
            return InstallStatus.ACCEPTED, "already installed"
        if self.count() >= self.max_certificates:
            return InstallStatus.REJECTED, f"certificate store full ({self.max_certificates})"
        try:
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(_pem([cert]))
            tmp.replace(target)
        except OSError as exc:
            return InstallStatus.FAILED, f"cannot store the certificate: {exc}"
        return InstallStatus.ACCEPTED, _subject(cert)

    def installed(self, kind: CertificateKind) -> list[tuple[CertificateHashData, x509.Certificate]]:
        roots = self.roots(kind)
        return [(hash_data(c, self._issuer_of(c, roots)), c) for c in roots]

    def _issuer_of(self, cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate:
        for other in candidates:
            if other.subject == cert.issuer and _issued_by(cert, other):
                return other
        return cert  # self-signed, or its issuer is not installed: its own key stands in

    def find(self, wanted: CertificateHashData) -> tuple[CertificateKind, Path] | None:
        for kind in CertificateKind:
            found = self._roots_with_files(kind)
            roots = [cert for cert, _ in found]
            for cert, path in found:
                data = hash_data(cert, self._issuer_of(cert, roots), wanted.hash_algorithm)
                if data.matches(wanted):
                    return kind, path
        return None

    def delete(self, path: Path) -> DeleteStatus:
        try:
            path.unlink()
        except FileNotFoundError:
            return DeleteStatus.NOT_FOUND
        except OSError:
            return DeleteStatus.FAILED
        return DeleteStatus.ACCEPTED

    # ---- own identity -------------------------------------------------------------------------------
    def identity(self) -> Identity | None:
        """The client key and certificate obtained through a signing request, if any."""
        path = self._identity / "identity.pem"
        try:
            return Identity(path, path, load_chain(path.read_bytes())[0])
        except (OSError, CertificateRejected):
            return None

    def create_csr(self, common_name: str, organization: str | None) -> str:
        """Generate a new key pair (kept as the pending key) and return a PEM CSR for it."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
        csr = builder.sign(key, hashes.SHA256())
        _write_private(self._identity / "pending-key.pem", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        pem = csr.public_bytes(serialization.Encoding.PEM)
        (self._identity / "pending-csr.pem").write_bytes(pem)
        return pem.decode()

    @property
    def signing_pending(self) -> bool:
        return (self._identity / "pending-key.pem").exists()

    def accept_certificate(self, chain_pem: str, now: datetime,
                           trusted: Sequence[x509.Certificate]) -> Identity:
        """Check a signed certificate chain against the pending request and swap it in as the identity.

        Raises CertificateRejected (the current identity stays) when there is no pending request, the
        public key or subject differ from the request, or the chain is not valid / not trusted.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import NameOID
        key_file, csr_file = self._identity / "pending-key.pem", self._identity / "pending-csr.pem"
        if not key_file.exists() or not csr_file.exists():
            raise CertificateRejected("no certificate signing request is pending")
        chain = load_chain(chain_pem)
        csr = x509.load_pem_x509_csr(csr_file.read_bytes())
        leaf = chain[0]
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if leaf.public_key().public_bytes(serialization.Encoding.DER, spki) != csr.public_key().public_bytes(
                serialization.Encoding.DER, spki):
            raise CertificateRejected("the certificate is not for the key of the pending request")
        if leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME) != csr.subject.get_attributes_for_oid(
                NameOID.COMMON_NAME):
            raise CertificateRejected(f"subject {_subject(leaf)} differs from the request "
                                      f"{csr.subject.rfc4514_string()}")
        verify_chain(chain, trusted, now)
        current = self._identity / "identity.pem"
        if current.exists():
            _write_private(self._identity / "previous-identity.pem", current.read_bytes())
        _write_private(current, key_file.read_bytes() + _pem(chain))
        (self._identity / "untried").touch()
        key_file.unlink()
        csr_file.unlink(missing_ok=True)
        identity = self.identity()
        assert identity is not None
        return identity


    @property
    def identity_untried(self) -> bool:
        """The identity was swapped in and no connection has used it successfully yet."""
        return (self._identity / "untried").exists()

    def identity_proven(self) -> None:
        (self._identity / "untried").unlink(missing_ok=True)

    def restore_previous_identity(self) -> None:
        """Put the identity before the last swap back (none before it: the configured one applies)."""
        current, previous = self._identity / "identity.pem", self._identity / "previous-identity.pem"
        if previous.exists():
            previous.replace(current)
        else:
            current.unlink(missing_ok=True)
        self.identity_proven()


def open_store(state_dir: Path, manufacturer_roots: Sequence[Path] = ()) -> CertificateStore:
    """The charger's certificate store, `<state_dir>/certificates/`, listing the provisioned
    `manufacturer_roots` (files or directories of PEM certificates) too."""
    return CertificateStore(state_dir / "certificates", manufacturer_roots=manufacturer_roots)
