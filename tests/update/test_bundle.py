"""Bundle format and signature checks with real keys, certificates and wheels; the tool's commands as a
manufacturer runs them."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware.update.bundle import MANIFEST, BundleError, Problem, verify_bundle
from firmware.update.signing import SignatureProblem, load_revocations, load_roots
from tests.firmware_bundles import (
    Pki,
    _members,
    _pack,
    chargepi_wheels,
    make_pki,
    signed_bundle,
    tampered,
    wrong_dependency_hash,
)
from tools import firmware_bundle


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def check(pki: Pki, data: bytes, tmp_path: Path, allow_unsigned: bool = False) -> Problem | None:
    path = tmp_path / f"b{len(list(tmp_path.iterdir()))}.bundle"
    path.write_bytes(data)
    try:
        verify_bundle(path, load_roots([pki.roots]), datetime.now(UTC), tmp_path / f"{path.name}-wheels",
                      allow_unsigned=allow_unsigned, revocations=load_revocations([pki.roots]))
    except BundleError as exc:
        return exc.problem
    return None


def test_a_good_bundle_verifies_and_its_wheels_come_out_intact(pki: Pki, tmp_path: Path) -> None:
    for signer in (pki.signer, pki.rsa_signer):
        data = signed_bundle(tmp_path / "build", signer)
        path = tmp_path / "good.bundle"
        path.write_bytes(data)
        out = tmp_path / f"wheels-{id(signer)}"
        verified = verify_bundle(path, load_roots([pki.roots]), datetime.now(UTC), out)
        assert verified.manifest.version == "2.0.0"
        assert verified.signer == "CN=test firmware signing"
        assert sorted(p.name for p in out.iterdir()) == ["chargepi-2.0.0-py3-none-any.whl",
                                                         "chargepi_dep-1.0-py3-none-any.whl"]
        assert (out / "chargepi_dep-1.0-py3-none-any.whl").read_bytes() == \
            (tmp_path / "build/wheels-2.0.0/chargepi_dep-1.0-py3-none-any.whl").read_bytes()


def test_bad_bundles_are_refused_with_the_reason(pki: Pki, tmp_path: Path) -> None:
    good = signed_bundle(tmp_path / "build", pki.signer)
    assert check(pki, tampered(good), tmp_path) is Problem.HASH
    assert check(pki, wrong_dependency_hash(good, pki.signer), tmp_path) is Problem.HASH
    assert check(pki, signed_bundle(tmp_path / "s", pki.stranger), tmp_path) is Problem.CERTIFICATE
    assert check(pki, signed_bundle(tmp_path / "e", pki.expired), tmp_path) is Problem.CERTIFICATE
    assert check(pki, b"not a tar at all", tmp_path) is Problem.MALFORMED
    # the manifest changed after signing (a wheel swapped for another with its hash): signature fails
    members = _members(good)
    manifest = json.loads(members[MANIFEST])
    manifest["version"] = "9.9.9"
    members[MANIFEST] = json.dumps(manifest).encode()
    assert check(pki, _pack(members), tmp_path) is Problem.SIGNATURE
    # a wheel the signed manifest does not list
    members = _members(good)
    members["wheels/evil-1.0-py3-none-any.whl"] = b"PK"
    assert check(pki, _pack(members), tmp_path) is Problem.HASH


def test_a_signer_its_root_revoked_is_refused_and_an_unreadable_list_refuses_all(
    pki: Pki, tmp_path: Path
) -> None:
    revoked = signed_bundle(tmp_path / "r", pki.revoked)
    path = tmp_path / "revoked.bundle"
    path.write_bytes(revoked)
    with pytest.raises(BundleError, match="was revoked by CN=test manufacturer root") as caught:
        verify_bundle(path, load_roots([pki.roots]), datetime.now(UTC),
                      revocations=load_revocations([pki.roots]))
    assert caught.value.problem is Problem.CERTIFICATE
    assert check(pki, signed_bundle(tmp_path / "g", pki.signer), tmp_path) is None  # the others still do
    # a list signed by someone else than the root revokes nothing
    roots = tmp_path / "roots"
    shutil.copytree(pki.roots, roots)
    (roots / "manufacturer.crl").write_bytes(_crl_by_stranger(pki))
    verify_bundle(path, load_roots([roots]), datetime.now(UTC), revocations=load_revocations([roots]))
    (roots / "manufacturer.crl").write_bytes(b"garbage")
    with pytest.raises(SignatureProblem, match=r"revocation list .* cannot be read"):
        load_revocations([roots])


def _crl_by_stranger(pki: Pki) -> bytes:
    """A revocation list naming the manufacturer root as issuer and `revoked`, signed by another key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    root = load_roots([pki.roots])[0]
    entry = x509.RevokedCertificateBuilder().serial_number(pki.revoked.cert.serial_number).revocation_date(
        datetime(2021, 1, 1, tzinfo=UTC)).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
           .last_update(datetime(2021, 1, 1, tzinfo=UTC)).next_update(datetime(2045, 1, 1, tzinfo=UTC))
           .add_revoked_certificate(entry).sign(pki.stranger.key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def test_unsigned_bundles_only_with_the_development_switch(pki: Pki, tmp_path: Path) -> None:
    unsigned = signed_bundle(tmp_path / "build", None)
    assert check(pki, unsigned, tmp_path) is Problem.SIGNATURE
    assert check(pki, unsigned, tmp_path, allow_unsigned=True) is None
    assert check(pki, tampered(unsigned), tmp_path, allow_unsigned=True) is Problem.HASH


def test_no_roots_installed_means_nothing_verifies(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "good.bundle"
    path.write_bytes(signed_bundle(tmp_path / "build", pki.signer))
    with pytest.raises(BundleError, match="no manufacturer root"):
        verify_bundle(path, [], datetime.now(UTC))


@pytest.mark.parametrize("member", ["../escape.whl", "wheels/../../x.whl", "/etc/passwd", "wheels/a/b.whl"])
def test_members_with_paths_are_refused_before_anything_is_written(pki: Pki, tmp_path: Path,
                                                                   member: str) -> None:
    members = _members(signed_bundle(tmp_path / "build", pki.signer))
    members[member] = b"x"
    assert check(pki, _pack(members), tmp_path) is Problem.MALFORMED
    assert not any(p.name.endswith("-wheels") for p in tmp_path.iterdir())


def test_links_are_refused(pki: Pki, tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("wheels/link.whl")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
    assert check(pki, out.getvalue(), tmp_path) is Problem.MALFORMED


def test_the_signing_certificate_must_be_for_code_signing(pki: Pki, tmp_path: Path) -> None:
    # A CA certificate (no codeSigning usage) signing directly is refused even though it is a root.
    key = firmware_bundle.new_key()
    root = firmware_bundle.make_certificate(key, "root signing directly", ca=True, days=5)
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots/r.pem").write_bytes(firmware_bundle.pem(root))
    from firmware.update.bundle import build_bundle

    out = tmp_path / "b.bundle"
    build_bundle(out, chargepi_wheels(tmp_path / "w", "2.0.0"), key, firmware_bundle.pem(root))
    with pytest.raises(BundleError, match="not for code signing"):
        verify_bundle(out, load_roots([tmp_path / "roots"]), datetime.now(UTC))


def test_the_tool_makes_keys_builds_signs_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOT_PASS", "correct horse")
    root_key, root_cert = tmp_path / "root.key", tmp_path / "root.pem"
    signer_key, signer_cert = tmp_path / "signer.key", tmp_path / "signer.pem"
    firmware_bundle.main(["new-root", "--key", str(root_key), "--cert", str(root_cert),
                          "--passphrase-env", "ROOT_PASS"])
    assert root_key.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in root_key.read_bytes()
    firmware_bundle.main(["new-signer", "--root-key", str(root_key), "--root-cert", str(root_cert),
                          "--root-passphrase-env", "ROOT_PASS", "--key", str(signer_key),
                          "--cert", str(signer_cert), "--rsa"])
    wheels = chargepi_wheels(tmp_path / "wheels", "3.1.0")
    bundle = tmp_path / "chargepi-3.1.0.bundle"
    firmware_bundle.main(["build", "--key", str(signer_key), "--cert", str(signer_cert), "-o", str(bundle),
                          *map(str, wheels)])
    firmware_bundle.main(["verify", "--roots", str(root_cert), str(bundle)])
    firmware_bundle.main(["sign-file", "--key", str(signer_key), str(bundle)])
    out = capsys.readouterr().out
    assert "chargepi 3.1.0, 2 wheels" in out and "all hashes match" in out
    signature = out.strip().splitlines()[-1]
    from firmware.update.signing import load_chain, verify_chain, verify_signature

    leaf = verify_chain(load_chain(signer_cert.read_bytes()), load_roots([root_cert]), datetime.now(UTC))
    import base64

    verify_signature(leaf, base64.b64decode(signature), bundle.read_bytes())
    other = tmp_path / "other-root.pem"
    firmware_bundle.main(["new-root", "--key", str(tmp_path / "o.key"), "--cert", str(other)])
    with pytest.raises(SystemExit, match="REFUSED"):
        firmware_bundle.main(["verify", "--roots", str(other), str(bundle)])


def test_the_tool_revokes_a_signing_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roots = tmp_path / "firmware-roots"
    roots.mkdir()
    root_key, root_cert = tmp_path / "root.key", roots / "root.pem"
    firmware_bundle.main(["new-root", "--key", str(root_key), "--cert", str(root_cert)])
    bundles = []
    for name in ("lost", "kept", "also-lost"):
        key, cert = str(tmp_path / f"{name}.key"), str(tmp_path / f"{name}.pem")
        firmware_bundle.main(["new-signer", "--root-key", str(root_key), "--root-cert", str(root_cert),
                              "--key", key, "--cert", cert])
        bundle = tmp_path / f"{name}.bundle"
        firmware_bundle.main(["build", "--key", str(tmp_path / f"{name}.key"), "--cert",
                              str(tmp_path / f"{name}.pem"), "-o", str(bundle),
                              *map(str, chargepi_wheels(tmp_path / f"w-{name}", "3.1.0"))])
        bundles.append(bundle)
    crl = roots / "root.crl"
    firmware_bundle.main(["revoke", "--root-key", str(root_key), "--root-cert", str(root_cert),
                          "--cert", str(tmp_path / "lost.pem"), "-o", str(crl)])
    firmware_bundle.main(["revoke", "--root-key", str(root_key), "--root-cert", str(root_cert),
                          "--crl", str(crl), "--cert", str(tmp_path / "also-lost.pem"), "-o", str(crl)])
    assert "2 revoked signing certificate(s)" in capsys.readouterr().out
    for bundle, refused in zip(bundles, (True, False, True), strict=True):
        if refused:
            with pytest.raises(SystemExit, match=r"REFUSED: .* was revoked by"):
                firmware_bundle.main(["verify", "--roots", str(roots), str(bundle)])
        else:
            firmware_bundle.main(["verify", "--roots", str(roots), str(bundle)])
