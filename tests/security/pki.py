"""Test PKI built with `cryptography`: CAs, server and client certificates (good, expired, wrong host),
and a CA that signs the charger's CSRs, as a CSMS operator's PKI would."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.now(UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Ca:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return pem(self.cert)

    def issue(self, cn: str, public_key: object | None = None, *, ip: str | None = None,
              dns: str | None = None, days: float = 2, start: datetime | None = None,
              server: bool = True, ca: bool = False
              ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | None]:
        key = None
        if public_key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        begin = start or NOW - timedelta(hours=1)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
                   .not_valid_before(begin).not_valid_after(begin + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        sans: list[x509.GeneralName] = []
        if ip:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        if dns:
            sans.append(x509.DNSName(dns))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if not ca:
            usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def sign_csr(self, csr_pem: str, days: float = 30, start: datetime | None = None) -> str:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        cert, _ = self.issue(str(cn), csr.public_key(), days=days, start=start, server=False)
        return pem(cert) + self.pem


def make_ca(cn: str = "chargepi test root", days: float = 30, start: datetime | None = None) -> Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    begin = start or NOW - timedelta(hours=1)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(begin)
            .not_valid_after(begin + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Ca(cert, key)


def write_pair(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None,
               *chain: x509.Certificate) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_text(pem(cert) + "".join(pem(c) for c in chain))
    assert key is not None
    key_file.write_bytes(key_pem(key))
    return cert_file, key_file


def server_context(directory: Path, ca: Ca, *, cn: str = "127.0.0.1", ip: str | None = "127.0.0.1",
                   dns: str | None = None, days: float = 2, start: datetime | None = None,
                   client_ca: Ca | None = None) -> ssl.SSLContext:
    """A TLS server context for the test CSMS; with `client_ca`, client certificates are required."""
    cert, key = ca.issue(cn, ip=ip, dns=dns, days=days, start=start)
    name = f"server-{cn}-{x509.random_serial_number() % 10000}"
    cert_file, key_file = write_pair(directory, name, cert, key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.pem)
    return ctx
