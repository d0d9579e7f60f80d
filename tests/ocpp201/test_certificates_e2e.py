"""OCPP 2.0.1 certificate management of a whole charger against the v201 test CSMS: InstallCertificate
(M05), GetInstalledCertificateIds (M03) with the hash data, DeleteCertificate (M04, never the station's own
certificate), and the station certificate's renewal (A02, A03): TriggerMessage SignChargingStationCertificate,
SignCertificate repeated on the CertSigning timer, CertificateSigned checked and, over TLS with security
profile 3, used for the next connection."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from ocpp.v201 import call

from firmware.ocpp.v201.certificates import RENEW_BEFORE
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, CsmsSide, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_authorization_e2e import set_variable
from tests.ocpp201.test_transactions_e2e import adapter
from tests.security.pki import Ca, make_ca, pem, server_context, write_pair

# The test CSMS tells the charger it is 2030-06-01 (csms201.NOW), while TLS checks certificates on the
# real clock: the test certificates are valid on both.
SIM_NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)
DAYS = (SIM_NOW - datetime.now(UTC)).days + 400
SERIAL = "CP-0001"  # [station] serial_number default: the CN of the charger's CSR


def root(cn: str = "csms root") -> Ca:
    return make_ca(cn, days=DAYS)


def expected_hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """SHA-256 of the issuer's DER name and of its public key (EC: the uncompressed point), serial in hex."""
    key = issuer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {"hash_algorithm": "SHA256",
            "issuer_name_hash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuer_key_hash": hashlib.sha256(key).hexdigest(),
            "serial_number": format(cert.serial_number, "x")}


def peer(csms: Csms) -> CsmsSide:
    assert csms.peer is not None
    return csms.peer


async def registered(make_harness: HarnessFactory, csms: Csms, **ocpp: Any) -> Harness:
    h: Harness = await make_harness(ocpp={**section(csms.url), **ocpp})
    await eventually(lambda: adapter(h)._online.is_set(), h.clock, 0.1, within=15)
    return h


async def install(csms: Csms, kind: str, certificate: str) -> str:
    answer = await peer(csms).call(call.InstallCertificate(certificate_type=kind, certificate=certificate),
                                   suppress=False)
    return str(answer.status)


async def installed(csms: Csms, *kinds: str) -> Any:
    return await peer(csms).call(call.GetInstalledCertificateIds(certificate_type=list(kinds) or None),
                                 suppress=False)


async def delete(csms: Csms, hash_data: dict[str, str]) -> str:
    return str((await peer(csms).call(call.DeleteCertificate(certificate_hash_data=hash_data),
                                      suppress=False)).status)


async def certificate_signed(csms: Csms, chain: str, **kwargs: Any) -> str:
    answer = await peer(csms).call(call.CertificateSigned(certificate_chain=chain, **kwargs), suppress=False)
    return str(answer.status)


async def trigger_signing(csms: Csms) -> None:
    answer = await peer(csms).call(call.TriggerMessage(requested_message="SignChargingStationCertificate"),
                                   suppress=False)
    assert answer.status == "Accepted"


def reported(csms: Csms, kind: str) -> list[str]:
    return [e.get("tech_info", "") for e in csms.of("SecurityEventNotification") if e["type"] == kind]


async def entries(csms: Csms) -> str:
    got = await peer(csms).call(call.GetVariables(get_variable_data=[
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"}}]),
        suppress=False)
    return str(got.get_variable_result[0]["attribute_value"])


async def test_install_list_and_delete_root_certificates(make_harness: HarnessFactory,
                                                          tmp_path: Path) -> None:
    makers = tmp_path / "firmware-roots"
    makers.mkdir()
    maker = root("maker")
    (makers / "maker.pem").write_text(maker.pem)
    async with running_csms() as csms:
        h = await registered(make_harness, csms, firmware={"trust_roots": [str(makers)]})
        assert (await installed(csms, "CSMSRootCertificate")).status == "NotFound"  # TC_M_19
        ca = root()
        assert await install(csms, "CSMSRootCertificate", ca.pem) == "Accepted"
        assert await install(csms, "CSMSRootCertificate", ca.pem) == "Accepted"  # already there: once
        assert await entries(csms) == "2"  # the CSMS root and the manufacturer root

        ids = await installed(csms, "CSMSRootCertificate")
        assert ids.status == "Accepted"
        assert ids.certificate_hash_data_chain == [{
            "certificate_type": "CSMSRootCertificate",
            "certificate_hash_data": expected_hash_data(ca.cert, ca.cert)}]
        every = await installed(csms)  # no certificateType: all of them
        assert sorted(c["certificate_type"] for c in every.certificate_hash_data_chain) == [
            "CSMSRootCertificate", "ManufacturerRootCertificate"]
        assert (await installed(csms, "V2GRootCertificate", "MORootCertificate",
                                "V2GCertificateChain")).status == "NotFound"  # no ISO 15118

        # Refused (TC_M_07): expired, not yet valid, not a CA, not PEM; V2G/MO roots (no ISO 15118);
        # manufacturer roots only come with the charger (they decide which firmware runs).
        expired = make_ca("expired", days=1, start=SIM_NOW - timedelta(days=10))
        future = make_ca("future", days=DAYS, start=SIM_NOW + timedelta(days=5))
        for kind, certificate in (("CSMSRootCertificate", expired.pem), ("CSMSRootCertificate", future.pem),
                                  ("CSMSRootCertificate", pem(ca.issue("leaf", days=DAYS)[0])),
                                  ("CSMSRootCertificate", "-----BEGIN CERTIFICATE-----\nnope\n"),
                                  ("V2GRootCertificate", root("v2g").pem),
                                  ("MORootCertificate", root("mo").pem),
                                  ("ManufacturerRootCertificate", root("other maker").pem)):
            assert await install(csms, kind, certificate) == "Rejected", (kind, certificate[:40])
        assert await entries(csms) == "2"
        await eventually(lambda: len(reported(csms, "InvalidCsmsCertificate")) == 4, h.clock, 0.1)
        assert "expired" in reported(csms, "InvalidCsmsCertificate")[0]

        maker_ids = (await installed(csms, "ManufacturerRootCertificate")).certificate_hash_data_chain
        assert [c["certificate_hash_data"] for c in maker_ids] == [expected_hash_data(maker.cert, maker.cert)]
        assert await delete(csms, maker_ids[0]["certificate_hash_data"]) == "Failed"
        assert (makers / "maker.pem").read_text() == maker.pem

        data = ids.certificate_hash_data_chain[0]["certificate_hash_data"]
        assert await delete(csms, data) == "Accepted"
        assert await delete(csms, data) == "NotFound"
        assert (await installed(csms, "CSMSRootCertificate")).status == "NotFound"
        assert await entries(csms) == "1"
        changes = [e.tech_info or "" for e in h.app.security_log.since(0)
                   if e.type == "ReconfigurationOfSecurityParameters"]
        assert len(changes) == 2 and "installed" in changes[0] and "deleted" in changes[1]


async def test_signing_request_is_repeated_until_a_valid_certificate_comes(
        make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await registered(make_harness, csms)
        ca = root("operator")
        assert await install(csms, "CSMSRootCertificate", ca.pem) == "Accepted"
        assert await set_variable(csms, "SecurityCtrlr", "OrganizationName", "Example CPO") == "Accepted"
        assert await set_variable(csms, "SecurityCtrlr", "CertSigningWaitMinimum", "40") == "Accepted"
        signs = lambda: csms.of("SignCertificate")  # noqa: E731
        await trigger_signing(csms)
        await eventually(lambda: len(signs()) == 1, h.clock, 0.01)
        first = signs()[0]
        assert first["certificate_type"] == "ChargingStationCertificate"
        csr = x509.load_pem_x509_csr(first["csr"].encode())
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SERIAL
        assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"

        # No CertificateSigned: again after CertSigningWaitMinimum, then after twice that, then no more
        # (CertSigningRepeatTimes 2); always the same request, so a late answer still fits.
        await h.advance(39)
        assert len(signs()) == 1
        await h.advance(2)
        await eventually(lambda: len(signs()) == 2, h.clock, 0.01)
        await h.advance(78)
        assert len(signs()) == 2
        await h.advance(3)
        await eventually(lambda: len(signs()) == 3, h.clock, 0.01)
        await h.advance(1000)
        assert len(signs()) == 3 and {s["csr"] for s in signs()} == {first["csr"]}

        # Refused: from a CA the charger does not trust, a V2G certificate.
        chain = ca.sign_csr(first["csr"], days=DAYS)
        stranger = root("stranger").sign_csr(first["csr"], days=DAYS)
        assert await certificate_signed(csms, stranger) == "Rejected"
        assert await certificate_signed(csms, chain, certificate_type="V2GCertificate") == "Rejected"
        await eventually(lambda: reported(csms, "InvalidChargingStationCertificate"), h.clock, 0.1)
        assert ["does not chain to a trusted root" in r for r in
                reported(csms, "InvalidChargingStationCertificate")] == [True]
        answer = await certificate_signed(csms, chain, certificate_type="ChargingStationCertificate")
        assert answer == "Accepted"
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        identity = adapter(h).certificates.identity()
        assert identity is not None and identity.certificate.serial_number == leaf.serial_number

        # A new request; its certificate ends the repeats.
        await trigger_signing(csms)
        await eventually(lambda: len(signs()) == 4, h.clock, 0.01)
        assert await certificate_signed(csms, ca.sign_csr(signs()[3]["csr"], days=DAYS)) == "Accepted"
        await h.advance(1000)
        assert len(signs()) == 4

        # M04.FR.06: the station's own certificate cannot be deleted (it is not a root either).
        own = adapter(h).certificates.identity()
        assert own is not None
        assert await delete(csms, expected_hash_data(own.certificate, ca.cert)) == "Failed"
        assert adapter(h).certificates.identity() is not None


async def test_a_signed_certificate_is_the_client_certificate_of_the_next_connection(
        make_harness: HarnessFactory, tmp_path: Path) -> None:
    operator = root("operator")
    ca_file = tmp_path / "operator.pem"
    ca_file.write_text(operator.pem)
    cert, key = operator.issue(SERIAL, server=False, days=DAYS)
    cert_file, key_file = write_pair(tmp_path / "provisioned", SERIAL, cert, key)
    tls = server_context(tmp_path, operator, client_ca=operator)
    async with running_csms(tls) as csms:
        h = await registered(make_harness, csms, security_profile=3, ca_file=str(ca_file),
                             client_cert_file=str(cert_file), client_key_file=str(key_file))
        served = lambda: [x509.load_der_x509_certificate(d).serial_number  # noqa: E731
                          for d in csms.client_certificates if d]
        assert served() == [cert.serial_number]
        await trigger_signing(csms)
        await eventually(lambda: csms.of("SignCertificate"), h.clock, 0.01)
        chain = operator.sign_csr(csms.of("SignCertificate")[0]["csr"], days=DAYS)
        assert await certificate_signed(csms, chain) == "Accepted"
        assert served() == [cert.serial_number]  # this connection stays as it is

        await adapter(h).link.disable()
        adapter(h).link.enable()
        await eventually(lambda: len(served()) == 2 and adapter(h)._online.is_set(), h.clock, 0.1, within=15)
        assert served()[1] == x509.load_pem_x509_certificates(chain.encode())[0].serial_number


async def test_a_certificate_about_to_expire_is_renewed_by_the_station(
        make_harness: HarnessFactory, tmp_path: Path) -> None:
    operator = root("operator")
    ca_file = tmp_path / "operator.pem"
    ca_file.write_text(operator.pem)
    # Valid on the real clock (TLS); on the charger's clock less than RENEW_BEFORE is left.
    until = SIM_NOW + RENEW_BEFORE - timedelta(days=1)
    cert, key = operator.issue(SERIAL, server=False, days=(until - datetime.now(UTC)).total_seconds() / 86400)
    cert_file, key_file = write_pair(tmp_path / "provisioned", SERIAL, cert, key)
    async with running_csms(server_context(tmp_path, operator, client_ca=operator)) as csms:
        h = await registered(make_harness, csms, security_profile=3, ca_file=str(ca_file),
                             client_cert_file=str(cert_file), client_key_file=str(key_file))
        await eventually(lambda: csms.of("SignCertificate"), h.clock, 0.01)  # A03: once registered
        chain = operator.sign_csr(csms.of("SignCertificate")[0]["csr"], days=DAYS)
        assert await certificate_signed(csms, chain) == "Accepted"
        await h.advance(300)
        assert len(csms.of("SignCertificate")) == 1  # answered: no repeats

        await adapter(h).link.disable()
        adapter(h).link.enable()
        await eventually(lambda: len(csms.client_certificates) == 2 and adapter(h)._online.is_set(),
                         h.clock, 0.1, within=15)
        await h.advance(300)
        assert len(csms.of("SignCertificate")) == 1  # the new certificate is not due
