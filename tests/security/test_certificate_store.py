"""The certificate store: installing, listing and deleting roots; CSR and signed-certificate swap."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from firmware.security.certificates import (
    CertificateHashData,
    CertificateKind,
    CertificateRejected,
    CertificateStore,
    InstallStatus,
    hash_data,
    verify_chain,
)
from tests.security.pki import NOW, make_ca, pem


def test_install_list_find_delete(tmp_path: Path) -> None:
    provisioned = tmp_path / "firmware-roots"
    provisioned.mkdir()
    maker = make_ca("maker")
    (provisioned / "maker.pem").write_text(maker.pem)
    store = CertificateStore(tmp_path / "certs", manufacturer_roots=[provisioned])
    root = make_ca("root A")
    assert store.install(CertificateKind.CSMS_ROOT, root.pem, NOW)[0] == InstallStatus.ACCEPTED
    assert store.install(CertificateKind.CSMS_ROOT, root.pem, NOW) == (InstallStatus.ACCEPTED,
                                                                        "already installed")
    # Manufacturer roots are the provisioned files: listed, never written.
    assert store.install(CertificateKind.MANUFACTURER_ROOT, make_ca("other").pem, NOW)[0] == "Rejected"
    [(data, _cert)] = store.installed(CertificateKind.CSMS_ROOT)
    assert data.serial_number == format(root.cert.serial_number, "x")
    assert [c.subject for c in store.manufacturer_roots()] == [maker.cert.subject]
    [(maker_data, _)] = store.installed(CertificateKind.MANUFACTURER_ROOT)
    assert store.find(maker_data) == (CertificateKind.MANUFACTURER_ROOT, provisioned / "maker.pem")
    assert not store.writable(CertificateKind.MANUFACTURER_ROOT)
    found = store.find(data)
    assert found is not None and found[0] == CertificateKind.CSMS_ROOT
    assert store.delete(found[1]) == "Accepted"
    assert store.installed(CertificateKind.CSMS_ROOT) == []
    assert store.find(data) is None
    assert stat.S_IMODE((tmp_path / "certs").stat().st_mode) == 0o700


def test_hash_data_is_the_ocsp_cert_id(tmp_path: Path) -> None:
    """issuerNameHash = SHA-256 of the issuer DER name, issuerKeyHash = of the issuer key bit string."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric import ec

    root = make_ca()
    data = hash_data(root.cert)
    assert data.issuer_name_hash == hashlib.sha256(root.cert.subject.public_bytes()).hexdigest()
    point = root.key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    assert data.issuer_key_hash == hashlib.sha256(point).hexdigest()
    assert isinstance(root.key, ec.EllipticCurvePrivateKey)


@pytest.mark.parametrize("case", ["leaf", "expired", "garbage", "two", "full"])
def test_install_rejects_what_is_not_a_usable_root(tmp_path: Path, case: str) -> None:
    store = CertificateStore(tmp_path / "certs", max_certificates=1)
    root = make_ca()
    text = {
        "leaf": pem(root.issue("leaf")[0]),
        "expired": make_ca(start=NOW - timedelta(days=60), days=1).pem,
        "garbage": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "two": root.pem + make_ca("other").pem,
        "full": make_ca("second").pem,
    }[case]
    if case == "full":
        store.install(CertificateKind.CSMS_ROOT, root.pem, NOW)
    status, reason = store.install(CertificateKind.CSMS_ROOT, text, NOW)
    assert status == InstallStatus.REJECTED and reason
    assert store.count() == (1 if case == "full" else 0)


def test_csr_key_stays_private_and_signed_certificate_swaps_in(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "certs")
    operator = make_ca("operator")
    csr = store.create_csr("SN-42", "Example CPO")
    key_file = tmp_path / "certs" / "identity" / "pending-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "PRIVATE" not in csr
    request = x509.load_pem_x509_csr(csr.encode())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "O=Example CPO,CN=SN-42"
    identity = store.accept_certificate(operator.sign_csr(csr), NOW, [operator.cert])
    assert stat.S_IMODE(identity.key_file.stat().st_mode) == 0o600
    assert identity.certificate.subject.rfc4514_string() == "CN=SN-42"
    assert not store.signing_pending
    # The identity file holds the key and the chain; ssl can load it.
    import ssl

    ssl.create_default_context().load_cert_chain(identity.cert_file)


@pytest.mark.parametrize("case", ["other key", "untrusted", "expired", "no request", "garbage"])
def test_signed_certificate_rejected(tmp_path: Path, case: str) -> None:
    store = CertificateStore(tmp_path / "certs")
    operator = make_ca("operator")
    csr = store.create_csr("SN-42", None)
    if case == "other key":
        chain = pem(operator.issue("SN-42", server=False)[0])
    elif case == "untrusted":
        chain = make_ca("stranger").sign_csr(csr)
    elif case == "expired":
        chain = operator.sign_csr(csr, days=1, start=NOW - timedelta(days=3))
    elif case == "no request":
        chain = operator.sign_csr(csr)
        store.accept_certificate(chain, NOW, [operator.cert])
    else:
        chain = "not a certificate"
    with pytest.raises(CertificateRejected):
        store.accept_certificate(chain, NOW, [operator.cert])
    if case != "no request":
        assert store.identity() is None and store.signing_pending


def test_verify_chain_through_an_intermediate(tmp_path: Path) -> None:
    root = make_ca()
    inter_cert, inter_key = root.issue("intermediate", ca=True)
    from tests.security.pki import Ca

    assert inter_key is not None
    inter = Ca(inter_cert, inter_key)
    leaf, _ = inter.issue("leaf")
    verify_chain([leaf, inter_cert], [root.cert], NOW)
    with pytest.raises(CertificateRejected):
        verify_chain([leaf], [root.cert], NOW)  # intermediate missing
    with pytest.raises(CertificateRejected):
        verify_chain([leaf, inter_cert], [], NOW)


@given(serial=st.integers(min_value=1, max_value=2**159), zeros=st.integers(0, 3), upper=st.booleans())
def test_hash_data_matches_whatever_the_spelling_of_the_serial(serial: int, zeros: int, upper: bool) -> None:
    """A CSMS may send the serial with leading zeros or in upper case (OCPP: hex without leading zeros)."""
    ours = CertificateHashData("SHA256", "ab" * 32, "cd" * 32, format(serial, "x"))
    text = "0" * zeros + format(serial, "x")
    theirs = CertificateHashData("SHA256", ("ab" * 32).upper(), "cd" * 32, text.upper() if upper else text)
    assert ours.matches(theirs)
    assert not ours.matches(CertificateHashData("SHA256", "ab" * 32, "cd" * 32, format(serial + 1, "x")))
    assert not ours.matches(CertificateHashData("SHA384", "ab" * 32, "cd" * 32, format(serial, "x")))
