"""The firmware bundle: one uncompressed tar that holds everything an offline install needs, signed.

    manifest.json       {"format": "chargepi-bundle/1", "package": "chargepi", "version": "0.2.0",
                         "wheels": [{"file": "chargepi-0.2.0-py3-none-any.whl", "sha256": "...", "size": N},
                                    ... every dependency, each pinned by its SHA-256 ...]}
    manifest.sig        detached signature over the exact bytes of manifest.json (RSA-PSS or ECDSA, SHA-256)
    signing-chain.pem   the signing certificate, then any intermediates, up to a manufacturer root
    wheels/<file>       the wheels the manifest lists, and nothing else

`verify_bundle` checks, before anything of the bundle is used: the member list (regular files with the
names above only, no links, no paths, size caps), the certificate chain, the signature over the manifest,
then each wheel's size and SHA-256 while it is copied out. The installer
then installs these wheels with pip in hash-checking mode with no index, so only this content can end up
in the new release. Unsigned bundles (no manifest.sig) pass only with `allow_unsigned`, the development
switch; hashes are still checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509

from firmware.update.signing import (
    Revocations,
    SignatureProblem,
    SigningKey,
    load_chain,
    sign,
    verify_chain,
    verify_signature,
)

FORMAT = "chargepi-bundle/1"
PACKAGE = "chargepi"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CHAIN = "signing-chain.pem"
WHEELS = "wheels/"
MAX_WHEELS = 200
MAX_SMALL_MEMBER = 256 * 1024  # manifest, signature, chain
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
_WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.+!-]{1,200}\.whl$")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]{0,39}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 64 * 1024


class Problem(StrEnum):
    """Why a bundle was refused; the OCPP layer maps these onto its status values."""

    MALFORMED = "malformed"  # not a bundle, bad member list, bad manifest
    CERTIFICATE = "certificate"  # signing certificate missing, unknown, expired, not for code signing
    SIGNATURE = "signature"  # manifest signature missing or wrong
    HASH = "hash"  # a wheel's size or SHA-256 differs from the manifest


class BundleError(Exception):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(f"{problem}: {message}")
        self.problem = problem


@dataclass(frozen=True)
class Wheel:
    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    version: str
    wheels: tuple[Wheel, ...]

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, "package": PACKAGE, "version": self.version,
                "wheels": [{"file": w.file, "sha256": w.sha256, "size": w.size} for w in self.wheels]}
        return json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("package") != PACKAGE:
                raise ValueError(f"not a {FORMAT} manifest for {PACKAGE}")
            version = data["version"]
            if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
                raise ValueError(f"bad version {version!r}")
            wheels = tuple(_wheel_entry(item) for item in data["wheels"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(Problem.MALFORMED, f"manifest: {exc}") from exc
        names = [w.file for w in wheels]
        if not 1 <= len(names) <= MAX_WHEELS or len(set(names)) != len(names):
            raise BundleError(Problem.MALFORMED, "manifest: wheel list is empty, too long or has duplicates")
        if not any(n.lower().startswith(f"{PACKAGE}-{version}-") for n in names):
            raise BundleError(Problem.MALFORMED, f"manifest: no {PACKAGE} {version} wheel")
        return cls(version, wheels)


def _wheel_entry(item: Any) -> Wheel:
    file, sha256, size = item["file"], item["sha256"], item["size"]
    if not isinstance(file, str) or not _WHEEL_NAME.match(file):
        raise ValueError(f"bad wheel name {file!r}")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ValueError(f"bad sha256 for {file}")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_BUNDLE_BYTES:
        raise ValueError(f"bad size for {file}")
    return Wheel(file, sha256, size)


@dataclass(frozen=True)
class VerifiedBundle:
    manifest: Manifest
    signer: str | None  # the signing certificate's subject; None for an unsigned (development) bundle


def wheel_version(wheel: Path) -> str:
    """The Version field of a chargepi wheel's metadata (the bundle's version)."""
    with zipfile.ZipFile(wheel) as archive:
        metas = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(metas) != 1:
            raise ValueError(f"{wheel.name}: no single METADATA")
        fields = dict(line.split(": ", 1) for line in archive.read(metas[0]).decode().splitlines()
                      if ": " in line)
    if fields.get("Name", "").lower() != PACKAGE:
        raise ValueError(f"{wheel.name} is not a {PACKAGE} wheel")
    return fields["Version"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_bundle(out: Path, wheels: list[Path], key: SigningKey | None, chain_pem: bytes | None) -> Manifest:
    """Write a bundle of `wheels` (the chargepi wheel and every dependency) to `out`, signed with `key`.

    Without a key the bundle is unsigned: only a charger with the development switch installs it.
    """
    package = [w for w in wheels if w.name.lower().startswith(f"{PACKAGE}-")]
    if len(package) != 1:
        raise ValueError(f"need exactly one {PACKAGE} wheel among {len(wheels)} wheels")
    manifest = Manifest(wheel_version(package[0]),
                        tuple(Wheel(w.name, _sha256(w), w.stat().st_size) for w in sorted(wheels)))
    raw = manifest.to_bytes()
    Manifest.from_bytes(raw)  # the same checks a charger makes
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, MANIFEST, raw)
        if key is not None:
            if chain_pem is None:
                raise ValueError("a signed bundle needs the signing certificate chain")
            _add(tar, SIGNATURE, sign(key, raw))
            _add(tar, CHAIN, chain_pem)
        for wheel in sorted(wheels):
            tar.add(wheel, arcname=WHEELS + wheel.name, recursive=False, filter=_plain)
    return manifest


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _plain(tarfile.TarInfo(name))
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for info in tar:
        name = info.name
        allowed = name in (MANIFEST, SIGNATURE, CHAIN) or (
            name.startswith(WHEELS) and _WHEEL_NAME.match(name[len(WHEELS):]) is not None)
        if not info.isreg() or not allowed:
            raise BundleError(Problem.MALFORMED, f"unexpected member {name!r}")
        if name in members:
            raise BundleError(Problem.MALFORMED, f"member {name!r} appears twice")
        if len(members) > MAX_WHEELS + 3:
            raise BundleError(Problem.MALFORMED, "too many members")
        members[name] = info
    return members


def _small(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes | None:
    info = members.get(name)
    if info is None:
        return None
    if info.size > MAX_SMALL_MEMBER:
        raise BundleError(Problem.MALFORMED, f"{name} is too large")
    data = tar.extractfile(info)
    assert data is not None  # a regular file
    return data.read()


def verify_bundle(path: Path, roots: list[x509.Certificate], now: datetime, dest: Path | None = None, *,
                  allow_unsigned: bool = False, revocations: Revocations = ()) -> VerifiedBundle:
    """Check the bundle at `path` completely; with `dest`, copy its wheels there (a new, empty directory).

    Raises BundleError saying what is wrong. Nothing is written to `dest` before the signature is verified.
    """
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(Problem.MALFORMED, f"larger than {MAX_BUNDLE_BYTES} bytes")
        with tarfile.open(path, "r:") as tar:
            members = _members(tar)
            raw = _small(tar, members, MANIFEST)
            if raw is None:
                raise BundleError(Problem.MALFORMED, f"no {MANIFEST}")
            signature, chain_pem = _small(tar, members, SIGNATURE), _small(tar, members, CHAIN)
            signer = _check_signature(raw, signature, chain_pem, roots, now, allow_unsigned, revocations)
            manifest = Manifest.from_bytes(raw)
            listed = {WHEELS + w.file for w in manifest.wheels}
            present = {name for name in members if name.startswith(WHEELS)}
            if listed != present:
                raise BundleError(Problem.HASH, "wheels differ from the manifest: "
                                  f"missing {sorted(listed - present)}, unlisted {sorted(present - listed)}")
            if dest is not None:
                dest.mkdir(parents=True)
            for wheel in manifest.wheels:
                _copy_checked(tar, members[WHEELS + wheel.file], wheel, dest)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BundleError(Problem.MALFORMED, f"cannot read the bundle: {exc}") from exc
    return VerifiedBundle(manifest, signer)


def _check_signature(raw: bytes, signature: bytes | None, chain_pem: bytes | None,
                     roots: list[x509.Certificate], now: datetime, allow_unsigned: bool,
                     revocations: Revocations) -> str | None:
    if signature is None and chain_pem is None and allow_unsigned:
        return None
    if signature is None or chain_pem is None:
        raise BundleError(Problem.SIGNATURE, "the bundle is not signed")
    try:
        leaf = verify_chain(load_chain(chain_pem), roots, now, revocations)
        verify_signature(leaf, signature, raw)
    except SignatureProblem as exc:
        raise BundleError(Problem.CERTIFICATE if exc.certificate else Problem.SIGNATURE, str(exc)) from exc
    return leaf.subject.rfc4514_string()


def _copy_checked(tar: tarfile.TarFile, info: tarfile.TarInfo, wheel: Wheel, dest: Path | None) -> None:
    if info.size != wheel.size:
        raise BundleError(Problem.HASH, f"{wheel.file}: {info.size} bytes, the manifest says {wheel.size}")
    source = tar.extractfile(info)
    assert source is not None
    digest = hashlib.sha256()
    target = None if dest is None else (dest / wheel.file).open("xb")
    try:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            if target is not None:
                target.write(chunk)
    finally:
        if target is not None:
            target.close()
    if digest.hexdigest() != wheel.sha256:
        if dest is not None:
            (dest / wheel.file).unlink()
        raise BundleError(Problem.HASH, f"{wheel.file}: SHA-256 differs from the manifest")
