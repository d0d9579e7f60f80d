"""Test material for signed firmware: real keys and certificates (a manufacturer root, signing certificates,
an unknown signer), real wheels pip can install, and bundles good and bad (tools/firmware_bundle's code)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from firmware.update.bundle import build_bundle
from firmware.update.signing import SigningKey, sign
from tools.firmware_bundle import make_certificate, new_key, pem


@dataclass
class Signer:
    key: SigningKey
    cert: x509.Certificate

    @property
    def chain_pem(self) -> bytes:
        return pem(self.cert)

    def signature_b64(self, data: bytes) -> str:
        """SignedUpdateFirmware's `signature` over a whole file."""
        return base64.b64encode(sign(self.key, data)).decode()


@dataclass
class Pki:
    roots: Path  # directory with the manufacturer root, as installed on a charger
    signer: Signer  # chains to the root (ECDSA)
    rsa_signer: Signer  # chains to the root (RSA-PSS)
    stranger: Signer  # a code-signing certificate from an unknown root
    expired: Signer  # chains to the root, but expired
    revoked: Signer  # chains to the root, but listed in the root's revocation list (roots/manufacturer.crl)


SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # valid from long before any simulated clock's start


def make_pki(directory: Path) -> Pki:
    """Valid from 2020 to 2045 (simulated clocks start in 2026 or 2030); `expired` ended in 2020."""
    directory.mkdir(parents=True, exist_ok=True)
    days = (datetime(2045, 1, 1, tzinfo=UTC) - SINCE).days
    root_key = new_key()
    root = make_certificate(root_key, "test manufacturer root", ca=True, days=days, not_before=SINCE)
    roots = directory / "roots"
    roots.mkdir()
    (roots / "manufacturer.pem").write_bytes(pem(root))

    def signer(use_rsa: bool = False, issuer_key: SigningKey = root_key, issuer: x509.Certificate = root,
               valid_days: float = days) -> Signer:
        key = new_key(use_rsa)
        cert = make_certificate(key, "test firmware signing", issuer_key=issuer_key, issuer=issuer, ca=False,
                                days=valid_days, not_before=SINCE)
        return Signer(key, cert)

    other_key = new_key()
    other_root = make_certificate(other_key, "someone else's root", ca=True, days=days, not_before=SINCE)
    revoked = signer()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(SINCE)
           .next_update(datetime(2045, 1, 1, tzinfo=UTC))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(revoked.cert.serial_number)
                                    .revocation_date(SINCE).build())
           .sign(root_key, hashes.SHA256()))
    (roots / "manufacturer.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return Pki(roots, signer(), signer(use_rsa=True), signer(issuer_key=other_key, issuer=other_root),
               signer(valid_days=100), revoked)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(directory: Path, name: str, version: str, *, requires: tuple[str, ...] = (),
               program: str | None = None) -> Path:
    """A real, installable pure-Python wheel. With `program`, module `<name>_main` holds it and the console
    script `chargepi` runs its `main()`."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{info}/METADATA": ("Metadata-Version: 2.1\n" f"Name: {name}\nVersion: {version}\n"
                             + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: chargepi-tests\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    if program is not None:
        files[f"{dist}_main.py"] = program.encode()
        files[f"{info}/entry_points.txt"] = f"[console_scripts]\nchargepi = {dist}_main:main\n".encode()
    else:
        files[f"{dist}.py"] = b"VALUE = 1\n"
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
    return path


PROGRAM = """\
import sys
def main():
    if sys.argv[1:] == ["--version"]:
        print("chargepi {version}")
"""


def chargepi_wheels(directory: Path, version: str, program: str = PROGRAM) -> list[Path]:
    """The chargepi wheel (depending on `chargepi-dep`) and its dependency's wheel."""
    return [make_wheel(directory, "chargepi", version, requires=("chargepi-dep",),
                       program=program.replace("{version}", version)),
            make_wheel(directory, "chargepi-dep", "1.0")]


def signed_bundle(directory: Path, signer: Signer | None, version: str = "2.0.0",
                  program: str = PROGRAM) -> bytes:
    out = directory / f"chargepi-{version}-{id(signer)}.bundle"
    build_bundle(out, chargepi_wheels(directory / f"wheels-{version}", version, program),
                 None if signer is None else signer.key, None if signer is None else signer.chain_pem)
    return out.read_bytes()


def _members(bundle: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def _pack(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def tampered(bundle: bytes) -> bytes:
    """The same signed manifest, but the chargepi wheel's code changed (same size): a hash mismatch."""
    members = _members(bundle)
    name = next(n for n in members if n.startswith("wheels/chargepi-2") or n.startswith("wheels/chargepi-"))
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0xFF
    members[name] = bytes(data)
    return _pack(members)


def wrong_dependency_hash(bundle: bytes, signer: Signer) -> bytes:
    """Validly signed, but the manifest's hash for the dependency wheel is not that wheel's hash."""
    members = _members(bundle)
    manifest = json.loads(members["manifest.json"])
    for wheel in manifest["wheels"]:
        if wheel["file"].startswith("chargepi_dep-"):
            wheel["sha256"] = hashlib.sha256(b"another wheel").hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    members["manifest.sig"] = sign(signer.key, members["manifest.json"])
    return _pack(members)
