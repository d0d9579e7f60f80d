"""Build and sign firmware bundles, and make the keys for it (manufacturer side; never on a charger).

    python -m tools.firmware_bundle new-root   --key root.key --cert root.pem [--name N] [--rsa]
    python -m tools.firmware_bundle new-signer --root-key root.key --root-cert root.pem \
                                               --key signer.key --cert signer.pem [--days 730]
    pip wheel --wheel-dir wheels .             # the chargepi wheel and every dependency
    python -m tools.firmware_bundle build --key signer.key --cert signer.pem -o chargepi-0.2.0.bundle \
                                          wheels/*.whl
    python -m tools.firmware_bundle sign-file --key signer.key chargepi-0.2.0.bundle
        # prints the base64 `signature` for SignedUpdateFirmware (its `signingCertificate` is signer.pem)
    python -m tools.firmware_bundle verify --roots root.pem chargepi-0.2.0.bundle

Keys are ECDSA P-256 by default (RSA 3072 with --rsa; signatures are then RSA-PSS), written with mode 0600
and encrypted when the environment variable named by --passphrase-env is set. `build --unsigned` makes a
bundle only a charger with the development switch `allow_unsigned` installs. Key handling and rotation:
docs/firmware-signing.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.update.bundle import BundleError, build_bundle, verify_bundle
from firmware.update.signing import SignatureProblem, SigningKey, load_revocations, load_roots, sign


def new_key(use_rsa: bool = False) -> SigningKey:
    return rsa.generate_private_key(65537, 3072) if use_rsa else ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(key: SigningKey, common_name: str, *, issuer_key: SigningKey | None = None,
                     issuer: x509.Certificate | None = None, ca: bool, days: float,
                     not_before: datetime | None = None) -> x509.Certificate:
    """A root (no issuer: self-signed CA) or a code-signing certificate issued by `issuer`."""
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name))
               .issuer_name(issuer.subject if issuer is not None else _name(common_name))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start)
               .not_valid_after(start + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    usage = x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                          encipher_only=False, decipher_only=False)
    builder = builder.add_extension(usage, critical=True)
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                                        critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _passphrase(env: str | None) -> bytes | None:
    value = os.environ.get(env) if env else None
    return value.encode() if value else None


def write_key(path: Path, key: SigningKey, passphrase: bytes | None = None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    encryption))


def read_key(path: Path, passphrase: bytes | None = None) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{path}: only RSA and ECDSA keys can sign firmware")
    return key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _new_root(args: argparse.Namespace) -> None:
    key = new_key(args.rsa)
    write_key(args.key, key, _passphrase(args.passphrase_env))
    args.cert.write_bytes(pem(make_certificate(key, args.name, ca=True, days=args.days)))
    print(f"root key {args.key} (keep it offline), certificate {args.cert} (install on chargers)")


def _new_signer(args: argparse.Namespace) -> None:
    root = x509.load_pem_x509_certificate(args.root_cert.read_bytes())
    root_key = read_key(args.root_key, _passphrase(args.root_passphrase_env))
    key = new_key(args.rsa)
    write_key(args.key, key, _passphrase(args.passphrase_env))
    args.cert.write_bytes(pem(make_certificate(key, args.name, issuer_key=root_key, issuer=root, ca=False,
                                               days=args.days)))
    print(f"signing key {args.key}, certificate {args.cert} (valid {args.days} days)")


def _revoke(args: argparse.Namespace) -> None:
    """A revocation list of the root naming the given signing certificates (plus those of `--crl`, the
    list so far); chargers refuse them once the file is in their firmware-roots directory."""
    root = x509.load_pem_x509_certificate(args.root_cert.read_bytes())
    root_key = read_key(args.root_key, _passphrase(args.root_passphrase_env))
    now = datetime.now(UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(now)
               .next_update(now + timedelta(days=args.days)))
    serials: set[int] = set()
    if args.crl is not None and args.crl.exists():
        for entry in x509.load_pem_x509_crl(args.crl.read_bytes()):
            serials.add(entry.serial_number)
            builder = builder.add_revoked_certificate(entry)
    for cert_file in args.cert:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if cert.issuer != root.subject:
            raise SystemExit(f"{cert_file} is not issued by {root.subject.rfc4514_string()}")
        if cert.serial_number not in serials:
            serials.add(cert.serial_number)
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build())
    args.output.write_bytes(builder.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    print(f"{args.output}: {len(serials)} revoked signing certificate(s); install it on chargers next to "
          "the root (tools/install.sh --firmware-root FILE)")


def _build(args: argparse.Namespace) -> None:
    if args.unsigned:
        key, chain = None, None
    else:
        if args.key is None or args.cert is None:
            raise SystemExit("build needs --key and --cert (or --unsigned for a development bundle)")
        key, chain = read_key(args.key, _passphrase(args.passphrase_env)), args.cert.read_bytes()
    manifest = build_bundle(args.output, args.wheels, key, chain)
    print(f"{args.output}: chargepi {manifest.version}, {len(manifest.wheels)} wheels"
          f"{' (UNSIGNED: development chargers only)' if key is None else ''}")


def _sign_file(args: argparse.Namespace) -> None:
    key = read_key(args.key, _passphrase(args.passphrase_env))
    print(base64.b64encode(sign(key, args.file.read_bytes())).decode())


def _verify(args: argparse.Namespace) -> None:
    try:
        verified = verify_bundle(args.file, load_roots(args.roots), datetime.now(UTC),
                                 revocations=load_revocations(args.roots))
    except (BundleError, SignatureProblem) as exc:
        raise SystemExit(f"{args.file}: REFUSED: {exc}") from exc
    print(f"{args.file}: chargepi {verified.manifest.version}, signed by {verified.signer}, "
          f"{len(verified.manifest.wheels)} wheels, all hashes match")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.firmware_bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    root = commands.add_parser("new-root", help="a manufacturer root key and certificate")
    root.add_argument("--key", type=Path, required=True)
    root.add_argument("--cert", type=Path, required=True)
    root.add_argument("--name", default="chargepi firmware root")
    root.add_argument("--days", type=float, default=20 * 365)
    signer = commands.add_parser("new-signer", help="a firmware-signing key and certificate")
    signer.add_argument("--root-key", type=Path, required=True)
    signer.add_argument("--root-cert", type=Path, required=True)
    signer.add_argument("--root-passphrase-env")
    signer.add_argument("--key", type=Path, required=True)
    signer.add_argument("--cert", type=Path, required=True)
    signer.add_argument("--name", default="chargepi firmware signing")
    signer.add_argument("--days", type=float, default=2 * 365)
    build = commands.add_parser("build", help="a bundle of the chargepi wheel and all its dependencies")
    build.add_argument("--key", type=Path)
    build.add_argument("--cert", type=Path, help="the signing certificate (then any intermediates), PEM")
    build.add_argument("--unsigned", action="store_true", help="development bundle, no signature")
    build.add_argument("-o", "--output", type=Path, required=True)
    build.add_argument("wheels", type=Path, nargs="+")
    sign_file = commands.add_parser("sign-file", help="base64 signature over a file (SignedUpdateFirmware)")
    sign_file.add_argument("--key", type=Path, required=True)
    sign_file.add_argument("file", type=Path)
    revoke = commands.add_parser("revoke", help="a revocation list of the root for signing certificates")
    revoke.add_argument("--root-key", type=Path, required=True)
    revoke.add_argument("--root-cert", type=Path, required=True)
    revoke.add_argument("--root-passphrase-env")
    revoke.add_argument("--cert", type=Path, action="append", required=True, help="repeat for several")
    revoke.add_argument("--crl", type=Path, help="the current list, whose entries are kept")
    revoke.add_argument("--days", type=float, default=365, help="until the list's nextUpdate")
    revoke.add_argument("-o", "--output", type=Path, required=True)
    verify = commands.add_parser("verify", help="check a bundle as a charger would")
    verify.add_argument("--roots", type=Path, action="append", required=True, help="repeat for several")
    verify.add_argument("file", type=Path)
    for sub in (root, signer, build, sign_file):
        sub.add_argument("--passphrase-env", help="environment variable holding the key's passphrase")
    for sub in (root, signer):
        sub.add_argument("--rsa", action="store_true", help="RSA 3072 (RSA-PSS) instead of ECDSA P-256")
    args = parser.parse_args(argv)
    handlers = {"new-root": _new_root, "new-signer": _new_signer, "build": _build, "sign-file": _sign_file,
                "verify": _verify, "revoke": _revoke}
    handlers[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
