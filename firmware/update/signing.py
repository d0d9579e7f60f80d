"""Firmware signatures: a signing certificate must chain to an installed manufacturer root, and a detached
signature (RSA-PSS or ECDSA, both with SHA-256) must verify with that certificate's key.

The same checks serve our own bundles (signature over the manifest) and OCPP 1.6 SignedUpdateFirmware
(signature over the downloaded file, certificate sent by the CSMS). Only certificates made for code signing
are accepted: the leaf needs the codeSigning extended key usage, every issuer must be a CA, and every
certificate in the chain must be valid at the time of the check, and none may be listed in a certificate
revocation list (`*.crl`, PEM or DER) that its issuer signed and that lies next to the roots
(`load_revocations`). docs/firmware-signing.md describes the keys and how to rotate or revoke them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID

MAX_CHAIN = 4  # leaf + intermediates


class SignatureProblem(Exception):
    """A certificate or signature check failed; `certificate` tells which of the two, `revoked` that a
    certificate was refused because its issuer revoked it."""

    def __init__(self, message: str, *, certificate: bool, revoked: bool = False) -> None:
        super().__init__(message)
        self.certificate = certificate
        self.revoked = revoked


Revocations = Sequence[x509.CertificateRevocationList]


SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def load_roots(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Every PEM certificate in the given files and directories (*.pem, *.crt); missing paths are skipped."""
    roots: list[x509.Certificate] = []
    for path in paths:
        files = sorted([*path.glob("*.pem"), *path.glob("*.crt")]) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                roots.extend(x509.load_pem_x509_certificates(file.read_bytes()))
    return roots


def load_revocations(paths: Iterable[Path]) -> list[x509.CertificateRevocationList]:
    """Every certificate revocation list (*.crl, PEM or DER) in the given directories (and files named
    *.crl). One that cannot be read refuses every signature (SignatureProblem): a revocation must never
    be skipped silently."""
    lists: list[x509.CertificateRevocationList] = []
    for path in paths:
        files = sorted(path.glob("*.crl")) if path.is_dir() else [path] if path.suffix == ".crl" else []
        for file in files:
            try:
                data = file.read_bytes()
                pem = data.lstrip().startswith(b"-----BEGIN")
                lists.append(x509.load_pem_x509_crl(data) if pem else x509.load_der_x509_crl(data))
            except (OSError, ValueError) as exc:
                raise SignatureProblem(f"revocation list {file} cannot be read: {exc}",
                                       certificate=True) from exc
    return lists


def _check_revocation(cert: x509.Certificate, issuer: x509.Certificate, revocations: Revocations) -> None:
    for crl in revocations:
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            continue  # another issuer's list, or not really signed by this one
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise SignatureProblem(
                f"{cert.subject.rfc4514_string()} (serial {cert.serial_number:x}) was revoked by "
                f"{issuer.subject.rfc4514_string()} on {entry.revocation_date_utc.isoformat()}",
                certificate=True, revoked=True)


def load_chain(pem: bytes) -> list[x509.Certificate]:
    """The signing certificate first, then any intermediates, from PEM text."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise SignatureProblem(f"signing certificate is not PEM: {exc}", certificate=True) from exc
    if not 1 <= len(chain) <= MAX_CHAIN:
        raise SignatureProblem(f"signing chain has {len(chain)} certificates", certificate=True)
    return chain


def _issuer_checks(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise SignatureProblem(f"{cert.subject.rfc4514_string()} is not a CA", certificate=True)


def _valid_at(cert: x509.Certificate, now: datetime) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureProblem(
            f"{cert.subject.rfc4514_string()} is not valid at {now.isoformat()} (valid "
            f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()})",
            certificate=True)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime,
                 revocations: Revocations = ()) -> x509.Certificate:
    """The signing certificate (chain[0]) once it is proven to chain to one of `roots` at `now`, with no
    certificate of the chain revoked by its issuer in `revocations`."""
    if not roots:
        raise SignatureProblem("no manufacturer root certificate is installed", certificate=True)
    leaf = chain[0]
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        raise SignatureProblem("signing certificate is not for code signing (no codeSigning usage)",
                               certificate=True)
    for cert in chain:
        _valid_at(cert, now)
    for cert, issuer in itertools.pairwise(chain):
        _issuer_checks(issuer)
        if not _issued_by(cert, issuer):
            raise SignatureProblem(f"{cert.subject.rfc4514_string()} is not issued by the next certificate "
                                   "in the chain", certificate=True)
    top = chain[-1]
    for root in roots:
        if top.issuer == root.subject and _issued_by(top, root):
            _issuer_checks(root)
            _valid_at(root, now)
            for cert, issuer in zip(chain, [*chain[1:], root], strict=True):
                _check_revocation(cert, issuer, revocations)
            return leaf
    raise SignatureProblem(f"signing certificate {leaf.subject.rfc4514_string()} does not chain to an "
                           "installed manufacturer root", certificate=True)


def file_digest(path: Path) -> bytes:
    """SHA-256 of a file, read in chunks (firmware files need not fit in memory twice)."""
    digest = hashes.Hash(hashes.SHA256())
    with path.open("rb") as data:
        while chunk := data.read(64 * 1024):
            digest.update(chunk)
    return digest.finalize()


def verify_signature(cert: x509.Certificate, signature: bytes, data: bytes | Path) -> None:
    """Check a detached signature over `data` (bytes, or a file's content) with the certificate's key:
    RSA-PSS/SHA-256 or ECDSA/SHA-256."""
    key = cert.public_key()
    algorithm: Prehashed | hashes.SHA256
    if isinstance(data, Path):
        message, algorithm = file_digest(data), Prehashed(hashes.SHA256())
    else:
        message, algorithm = data, hashes.SHA256()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                        salt_length=padding.PSS.AUTO), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algorithm))
        else:
            raise SignatureProblem(f"unsupported key type {type(key).__name__}", certificate=True)
    except InvalidSignature as exc:
        raise SignatureProblem("signature does not match", certificate=False) from exc


def sign(key: SigningKey, data: bytes) -> bytes:
    """A detached signature over `data` (RSA-PSS with a 32-byte salt, or ECDSA; SHA-256)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                        hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))
