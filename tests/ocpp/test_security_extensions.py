"""OCPP 1.6 security extensions end to end, over real TLS against the test CSMS: profile 3 with client
certificates, server certificates that must be refused, SecurityProfile upgrade and fallback, the
certificate messages, SignCertificate / CertificateSigned, security events and GetLog."""

from __future__ import annotations

import gzip
import logging
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from firmware.ocpp.common.timefmt import rfc3339
from firmware.security.events import SecurityEventType
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp_transfers.conftest import HttpFiles, _serve_http
from tests.security.pki import NOW, make_ca, pem, server_context, write_pair

PASSWORD = "secret-key-123"


def real_time(csms: TestCsms) -> TestCsms:
    """The CSMS tells the charger the real time: certificates are checked against the charger's clock."""
    csms.time_source = lambda: rfc3339(datetime.now(UTC))
    return csms


class Tls:
    """A TLS test CSMS with its operator CA (which also signs charger certificates)."""

    def __init__(self, tmp: Path, *, client_certs: bool) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca = make_ca("operator root")
        self.ca_file = tmp / "operator-ca.pem"
        self.ca_file.write_text(self.ca.pem)
        self.context = server_context(tmp, self.ca, client_ca=self.ca if client_certs else None)
        self.csms = real_time(TestCsms())
        self.port = 0

    async def start(self) -> TestCsms:
        self.port = await self.csms.start(ssl=self.context)
        return self.csms

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ocpp"

    def client_files(self, cn: str = "SN-42") -> dict[str, Any]:
        cert, key = self.ca.issue(cn, server=False)
        cert_file, key_file = write_pair(self.tmp / "provisioned", cn, cert, key)
        return {"client_cert_file": cert_file, "client_key_file": key_file}


@pytest.fixture
def http_server() -> Iterator[HttpFiles]:
    """The real HTTP upload server of the transfer tests."""
    yield from _serve_http(None)


@pytest.fixture
async def tls(tmp_path: Path) -> AsyncIterator[Tls]:
    server = Tls(tmp_path, client_certs=True)
    await server.start()
    yield server
    await server.csms.stop()


def events(csms: TestCsms) -> list[tuple[str, str | None]]:
    return [(c["type"], c.get("techInfo")) for c in csms.calls("SecurityEventNotification")]


async def stop(*harnesses: Harness) -> None:
    for h in harnesses:
        if h.adapter is not None:
            await h.adapter.stop()
            h.adapter = None


async def test_profile_3_connects_with_the_client_certificate_and_no_password(
    tmp_path: Path, tls: Tls
) -> None:
    h = Harness(
        tmp_path / "state",
        tls.csms,
        tls.port,
        url=tls.url,
        security_profile=3,
        ca_file=tls.ca_file,
        **tls.client_files("SN-42"),
    )
    await h.start()
    assert tls.csms.peer_subjects[-1] == "CN=SN-42"
    assert tls.csms.auth_headers[-1] is None  # profile 3: the certificate is the credential
    assert h.adapter is not None
    status = h.adapter.station.sections["security"]()  # type: ignore[attr-defined]
    assert status["security_profile"] == 3
    assert status["client_certificate"]["subject"] == "CN=SN-42"
    assert status["client_certificate"]["source"] == "configured"
    await stop(h)


async def test_profile_3_without_a_client_certificate_is_refused_by_the_csms(
    tmp_path: Path, tls: Tls
) -> None:
    h = Harness(
        tmp_path / "state",
        tls.csms,
        tls.port,
        url=tls.url,
        security_profile=2,
        ca_file=tls.ca_file,
        authorization_key=PASSWORD,
    )
    adapter = await h.start(wait_online=False)
    await eventually(lambda: adapter.link.last_error is not None)
    assert tls.csms.connections == 0
    await stop(h)


@pytest.mark.parametrize("bad", ["expired", "wrong host", "unknown CA"])
async def test_bad_server_certificate_is_refused_and_reported_once_connected(
    tmp_path: Path, bad: str
) -> None:
    ca = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.pem)
    signer = make_ca("stranger") if bad == "unknown CA" else ca
    context = server_context(
        tmp_path,
        signer,
        cn="127.0.0.1",
        ip="127.0.0.2" if bad == "wrong host" else "127.0.0.1",
        start=NOW - timedelta(days=3) if bad == "expired" else None,
        days=1 if bad == "expired" else 2,
    )
    csms = real_time(TestCsms())
    port = await csms.start(ssl=context)
    h = Harness(
        tmp_path / "state",
        csms,
        port,
        url=f"wss://127.0.0.1:{port}/ocpp",
        security_profile=2,
        authorization_key=PASSWORD,
        ca_file=ca_file,
    )
    adapter = await h.start(wait_online=False)
    await eventually(lambda: "TLS" in (adapter.link.last_error or ""))
    assert csms.connections == 0  # not a single frame to an unverified server
    logged = [
        e for e in adapter.security_log.since(0) if e.type == SecurityEventType.INVALID_CSMS_CERTIFICATE
    ]
    assert len(logged) == 1
    # The server gets a good certificate; the charger retries after the auth backoff and reports the event.
    good_cert, good_key = ca.issue("127.0.0.1", ip="127.0.0.1")
    cert_file, key_file = write_pair(tmp_path / "good", "server", good_cert, good_key)
    context.load_cert_chain(cert_file, key_file)
    await eventually(lambda: adapter._online.is_set(), h.clock, 30, within=10)
    await eventually(lambda: events(csms), h.clock, 1)
    [(_, info)] = [e for e in events(csms) if e[0] == "InvalidCentralSystemCertificate"]
    expected = {"expired": "expired", "wrong host": "mismatch", "unknown CA": "unable to get"}[bad]
    assert info is not None and expected in info
    await stop(h)
    await csms.stop()


async def test_install_list_and_delete_certificates(harness: Harness, tmp_path: Path) -> None:
    real_time(harness.csms)
    await harness.start()
    csms = harness.csms
    assert csms.cp is not None
    root = make_ca("csms root")
    answer = await csms.cp.call(
        call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=root.pem),
        suppress=False,
    )
    assert answer.status == "Accepted"
    answer = await csms.cp.call(
        call.InstallCertificate(
            certificate_type="CentralSystemRootCertificate", certificate=pem(root.issue("leaf")[0])
        ),
        suppress=False,
    )
    assert answer.status == "Rejected"  # not a CA certificate
    answer = await csms.cp.call(
        call.InstallCertificate(
            certificate_type="ManufacturerRootCertificate", certificate=make_ca("maker").pem
        ),
        suppress=False,
    )
    assert answer.status == "Rejected"  # manufacturer roots decide what firmware runs: not remotely
    ids = await csms.cp.call(
        call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"), suppress=False
    )
    assert ids.status == "Accepted" and len(ids.certificate_hash_data) == 1
    data = ids.certificate_hash_data[0]
    assert data["serial_number"] == format(root.cert.serial_number, "x")
    none = await csms.cp.call(
        call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"), suppress=False
    )
    assert none.status == "NotFound"
    gone = await csms.cp.call(call.DeleteCertificate(certificate_hash_data=data), suppress=False)
    assert gone.status == "Accepted"
    again = await csms.cp.call(call.DeleteCertificate(certificate_hash_data=data), suppress=False)
    assert again.status == "NotFound"
    assert harness.adapter is not None
    kinds = [e.type for e in harness.adapter.security_log.since(0)]
    assert (
        kinds.count("ReconfigurationOfSecurityParameters") == 2 and "InvalidCentralSystemCertificate" in kinds
    )


async def _change(csms: TestCsms, key: str, value: str) -> str:
    assert csms.cp is not None
    return str((await csms.cp.call(call.ChangeConfiguration(key=key, value=value), suppress=False)).status)


async def _profile(csms: TestCsms) -> str:
    assert csms.cp is not None
    conf = await csms.cp.call(call.GetConfiguration(key=["SecurityProfile"]), suppress=False)
    return str(conf.configuration_key[0]["value"])


@pytest.mark.parametrize("trusted", [True, False])
async def test_security_profile_upgrade_and_fallback(tmp_path: Path, trusted: bool) -> None:
    """Profile 1 on ws:// -> 2 on wss:// once a root is installed; an untrusted server: back to 1."""
    plain = real_time(TestCsms())
    plain_port = await plain.start()
    tls = Tls(tmp_path / "tls", client_certs=False)
    await tls.start()
    h = Harness(
        tmp_path / "state",
        plain,
        plain_port,
        security_profile=1,
        authorization_key=PASSWORD,
        allow_insecure_basic_auth=True,
        tls_url=tls.url,
    )
    adapter = await h.start()
    assert await _change(plain, "SecurityProfile", "2") == "Rejected"  # no root to trust the server yet
    root = tls.ca if trusted else make_ca("some other root")
    assert plain.cp is not None
    await plain.cp.call(
        call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=root.pem),
        suppress=False,
    )
    assert await _change(plain, "SecurityProfile", "2") == "Accepted"
    if trusted:
        await eventually(lambda: tls.csms.cp is not None, h.clock, 0.1)
        assert tls.csms.auth_headers[-1] is not None  # profile 2 still sends the password, now over TLS
        assert await _profile(tls.csms) == "2"
        assert await _change(tls.csms, "SecurityProfile", "1") == "Rejected"  # no remote downgrade
        cp = tls.csms.cp
        assert cp is not None
        ids = await cp.call(
            call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"), suppress=False
        )
        refused = await cp.call(
            call.DeleteCertificate(certificate_hash_data=ids.certificate_hash_data[0]), suppress=False
        )
        assert refused.status == "Failed"  # the link depends on it
        await stop(h)
        h2 = Harness(
            tmp_path / "state",
            plain,
            plain_port,
            security_profile=1,
            authorization_key=PASSWORD,
            allow_insecure_basic_auth=True,
            tls_url=tls.url,
        )
        await h2.start()  # the upgraded profile survives a restart
        assert h2.adapter is not None and h2.adapter.link_security.profile == 2
        assert tls.csms.connections == 2
        await stop(h2)
    else:
        # The TLS server is not trusted: one failed attempt, then straight back to profile 1 and ws://.
        await eventually(lambda: plain.connections == 2, h.clock, 0.1)
        await eventually(lambda: plain.cp is not None, h.clock, 0.1)
        assert tls.csms.connections == 0
        assert await _profile(plain) == "1"
        await eventually(
            lambda: "InvalidCentralSystemCertificate" in [e[0] for e in events(plain)], h.clock, 1
        )
        assert adapter.link_security.upgrading_from is None
        await stop(h)
    await plain.stop()
    await tls.csms.stop()


async def test_sign_certificate_and_certificate_signed(tmp_path: Path, tls: Tls) -> None:
    h = Harness(
        tmp_path / "state",
        tls.csms,
        tls.port,
        url=tls.url,
        security_profile=3,
        ca_file=tls.ca_file,
        **tls.client_files("SN-42"),
    )
    adapter = await h.start()
    csms = tls.csms
    assert csms.cp is not None
    assert await _change(csms, "CpoName", "Example CPO") == "Accepted"
    answer = await csms.cp.call(
        call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"), suppress=False
    )
    assert answer.status == "Accepted"
    await eventually(lambda: csms.calls("SignCertificate"), h.clock, 0.1)
    csr = csms.calls("SignCertificate")[0]["csr"]
    key_file = tmp_path / "state" / "certificates" / "identity" / "pending-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_text = key_file.read_text()
    # A certificate for another key, or from another CA, is refused (and reported).
    stranger = make_ca("stranger")
    refused = await csms.cp.call(
        call.CertificateSigned(certificate_chain=stranger.sign_csr(csr)), suppress=False
    )
    assert refused.status == "Rejected"
    signed = tls.ca.sign_csr(csr)
    accepted = await csms.cp.call(call.CertificateSigned(certificate_chain=signed), suppress=False)
    assert accepted.status == "Accepted"
    identity = tmp_path / "state" / "certificates" / "identity" / "identity.pem"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    # The new certificate is used from the next connection on.
    await csms.kick()
    await eventually(lambda: csms.connections == 2 and csms.cp is not None, h.clock, 0.5)
    from cryptography import x509

    new_serial = x509.load_pem_x509_certificates(signed.encode())[0].serial_number
    assert csms.peer_serials[-1] == new_serial != csms.peer_serials[0]
    assert csms.peer_subjects[-1] == "CN=SN-42"
    await eventually(lambda: "InvalidChargePointCertificate" in [e[0] for e in events(csms)], h.clock, 1)
    # The private key never left the charger.
    body = key_text.split("-----")[2].strip().splitlines()[1]
    assert all(body not in str(frame) for _, frame in csms.wire)
    assert adapter.certificates.identity() is not None
    await stop(h)


async def test_security_events_are_delivered_after_an_outage_and_a_restart(harness: Harness) -> None:
    adapter = await harness.start()
    await adapter.link.disable()
    adapter.security_log.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED, "lid open")
    adapter.security_log.record(SecurityEventType.INVALID_MESSAGES, "local only")
    await harness.kill()  # power cut before it was sent
    adapter = await harness.start()
    await eventually(
        lambda: ("TamperDetectionActivated", "lid open") in events(harness.csms), harness.clock, 1
    )
    assert "InvalidMessages" not in [e[0] for e in events(harness.csms)]
    await harness.settle()
    assert [e for e in events(harness.csms) if e[0] == "TamperDetectionActivated"] == [
        ("TamperDetectionActivated", "lid open")
    ]  # exactly once


async def test_csms_without_security_extensions_is_asked_once(harness: Harness) -> None:
    harness.csms.not_implemented.add("SecurityEventNotification")
    adapter = await harness.start()
    adapter.security_log.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED)
    await harness.settle()  # given up at once, not after TransactionMessageAttempts retries
    assert [e[0] for e in events(harness.csms)].count("TamperDetectionActivated") == 1


async def test_reset_is_a_security_event(harness: Harness) -> None:
    adapter = await harness.start()
    assert harness.csms.cp is not None
    await harness.csms.cp.call(call.Reset(type="Soft"), suppress=False)
    await eventually(lambda: harness.restarts, harness.clock, 0.5)
    assert [e.tech_info for e in adapter.security_log.since(0) if e.type == "ResetOrReboot"] == [
        "Soft Reset by the CSMS"
    ]


@pytest.mark.parametrize("log_type", ["SecurityLog", "DiagnosticsLog"])
async def test_get_log_uploads_with_log_status_notifications(
    harness: Harness, http_server: HttpFiles, log_type: str
) -> None:
    adapter = await harness.start()
    adapter.security_log.record(SecurityEventType.INVALID_MESSAGES, "a frame that was not JSON")
    assert harness.csms.cp is not None
    answer = await harness.csms.cp.call(
        call.GetLog(log_type=log_type, request_id=7, log={"remoteLocation": http_server.url("/logs/")}),
        suppress=False,
    )
    assert answer.status == "Accepted" and answer.filename
    await eventually(lambda: len(harness.csms.calls("LogStatusNotification")) >= 2, harness.clock, 0.1)
    assert harness.csms.calls("LogStatusNotification") == [
        {"status": "Uploading", "requestId": 7},
        {"status": "Uploaded", "requestId": 7},
    ]
    _, path, _, body = http_server.uploads[-1]
    assert path == f"/logs/{answer.filename}"
    if log_type == "SecurityLog":
        assert "InvalidMessages a frame that was not JSON" in gzip.decompress(body).decode()
    refused = await harness.csms.cp.call(
        call.GetLog(log_type=log_type, request_id=8, log={"remoteLocation": "file:///etc/passwd"}),
        suppress=False,
    )
    assert refused.status == "Rejected"


async def test_extended_trigger_message(harness: Harness) -> None:
    await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    for message in ("Heartbeat", "StatusNotification", "LogStatusNotification", "BootNotification"):
        answer = await cp.call(call.ExtendedTriggerMessage(requested_message=message), suppress=False)
        assert answer.status == "Accepted"
    bad = await cp.call(
        call.ExtendedTriggerMessage(requested_message="MeterValues", connector_id=9), suppress=False
    )
    assert bad.status == "Rejected"
    await eventually(lambda: harness.csms.calls("LogStatusNotification"), harness.clock, 0.1)
    assert harness.csms.calls("LogStatusNotification")[0] == {"status": "Idle"}
    await eventually(lambda: len(harness.csms.calls("Heartbeat")) >= 1, harness.clock, 0.1)


async def test_invalid_messages_are_logged_locally_and_throttled(harness: Harness) -> None:
    adapter = await harness.start()
    for n in range(20):
        await harness.csms.send_raw(f'[2,"b{n}","Reset",{{"type":"Gentle"}}]')
    await eventually(lambda: harness.csms.answers("b19"))
    logged = [e for e in adapter.security_log.since(0) if e.type == "InvalidMessages"]
    assert len(logged) == 1 and logged[0].tech_info is not None and "b0" in logged[0].tech_info
    await harness.clock.advance(11)
    await harness.csms.send_raw("[2,")
    await eventually(
        lambda: len([e for e in adapter.security_log.since(0) if e.type == "InvalidMessages"]) == 2
    )
    last = adapter.security_log.since(0)[-1]
    assert last.tech_info is not None and "(and 19 more since the last entry)" in last.tech_info
    await harness.settle()
    assert "InvalidMessages" not in [e[0] for e in events(harness.csms)]  # local only: no echo to the CSMS


async def test_a_failing_tls_server_is_logged_once_until_a_connection_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="firmware.ocpp.common.connection")
    ca = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.pem)
    csms = real_time(TestCsms())
    port = await csms.start(ssl=server_context(tmp_path, make_ca("stranger")))
    h = Harness(
        tmp_path / "state", csms, port, url=f"wss://127.0.0.1:{port}/ocpp", security_profile=2,
        authorization_key=PASSWORD, ca_file=ca_file, auth_failure_backoff_s=5,
    )  # fmt: skip
    adapter = await h.start(wait_online=False)
    retries = lambda: sum("OCPP link down (TLS failure" in r.getMessage() for r in caplog.records)  # noqa: E731
    await eventually(lambda: retries() >= 4, h.clock, 1)
    logged = [e for e in adapter.security_log.since(0) if e.type == "InvalidCentralSystemCertificate"]
    assert len(logged) == 1
    await stop(h)
    await csms.stop()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "wss://h/ocpp", "security_profile": 3}, "needs client_cert_file"),
        ({"url": "ws://h/ocpp", "security_profile": 3, "client_cert_file": "c", "client_key_file": "k"},
         "needs a wss:// url"),
        ({"url": "wss://h/ocpp", "client_cert_file": "c"}, "go together"),
        ({"url": "ws://h/ocpp", "configuration": {"SecurityProfile": 2}}, "set security_profile instead"),
    ],
)  # fmt: skip
def test_security_settings_are_checked(values: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    from firmware.ocpp.settings import OcppSettings

    with pytest.raises(ValidationError, match=message):
        OcppSettings(charge_point_id="CP", **values)


async def test_a_new_client_certificate_the_csms_refuses_is_rolled_back(tmp_path: Path, tls: Tls) -> None:
    h = Harness(tmp_path / "state", tls.csms, tls.port, url=tls.url, security_profile=3, ca_file=tls.ca_file,
                **tls.client_files("SN-42"))  # fmt: skip
    adapter = await h.start()
    csms = tls.csms
    assert csms.cp is not None
    # A root the charger trusts, but the CSMS's TLS server does not accept client certificates from.
    other = make_ca("other operator")
    await csms.cp.call(
        call.InstallCertificate(certificate_type="CentralSystemRootCertificate", certificate=other.pem),
        suppress=False,
    )
    await csms.cp.call(
        call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"), suppress=False
    )
    await eventually(lambda: csms.calls("SignCertificate"), h.clock, 0.1)
    csr = csms.calls("SignCertificate")[0]["csr"]
    answer = await csms.cp.call(call.CertificateSigned(certificate_chain=other.sign_csr(csr)), suppress=False)
    assert answer.status == "Accepted"
    await csms.kick()
    # The next attempt with the new certificate is refused by the CSMS; the charger puts the old one back.
    await eventually(lambda: csms.connections == 2 and csms.cp is not None, h.clock, 0.5, within=10)
    assert csms.peer_serials[-1] == csms.peer_serials[0]
    assert adapter.certificates.identity() is None  # back to the provisioned files
    assert any("previous one restored" in (e.tech_info or "") for e in adapter.security_log.since(0))
    await stop(h)


async def test_manufacturer_roots_are_the_provisioned_ones_and_stay(harness: Harness, tmp_path: Path) -> None:
    """GetInstalledCertificateIds lists the roots firmware verification uses; no CSMS can remove one."""
    roots = tmp_path / "firmware-roots"
    roots.mkdir()
    maker = make_ca("maker")
    (roots / "maker.pem").write_text(maker.pem)
    harness.ocpp_overrides["firmware"] = {"trust_roots": [roots]}
    real_time(harness.csms)
    await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    ids = await cp.call(call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"),
                        suppress=False)  # fmt: skip
    assert ids.status == "Accepted"
    assert [d["serial_number"] for d in ids.certificate_hash_data] == [format(maker.cert.serial_number, "x")]
    refused = await cp.call(call.DeleteCertificate(certificate_hash_data=ids.certificate_hash_data[0]),
                            suppress=False)  # fmt: skip
    assert refused.status == "Failed"
    assert (roots / "maker.pem").read_text() == maker.pem


async def test_certificates_out_of_their_validity_or_not_ours_are_rejected_and_reported(
    tmp_path: Path, tls: Tls
) -> None:
    h = Harness(tmp_path / "state", tls.csms, tls.port, url=tls.url, security_profile=3, ca_file=tls.ca_file,
                **tls.client_files("SN-42"))  # fmt: skip
    adapter = await h.start()
    cp = tls.csms.cp
    assert cp is not None

    async def install(ca_pem: str) -> str:
        answer = await cp.call(call.InstallCertificate(certificate_type="CentralSystemRootCertificate",
                                                       certificate=ca_pem), suppress=False)  # fmt: skip
        return str(answer.status)

    assert await install(make_ca("expired root", days=1, start=NOW - timedelta(days=10)).pem) == "Rejected"
    assert await install(make_ca("future root", start=NOW + timedelta(days=5)).pem) == "Rejected"
    assert await install("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n") == "Rejected"
    none = await cp.call(call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"),
                         suppress=False)  # fmt: skip
    assert none.status == "NotFound"  # nothing refused was kept
    unknown = {"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 32, "issuerKeyHash": "11" * 32,
               "serialNumber": "abc"}
    gone = await cp.call(call.DeleteCertificate(certificate_hash_data=unknown), suppress=False)
    assert gone.status == "NotFound"
    # CertificateSigned without a request of ours, then for a request: not our key, out of validity,
    # a chain that does not hold together.
    signed = await cp.call(call.CertificateSigned(certificate_chain=tls.ca.sign_csr(_some_csr())),
                           suppress=False)  # fmt: skip
    assert signed.status == "Rejected"
    await cp.call(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"), suppress=False)
    await eventually(lambda: tls.csms.calls("SignCertificate"), h.clock, 0.1)
    csr = tls.csms.calls("SignCertificate")[0]["csr"]
    other_key, _ = tls.ca.issue("SN-42", server=False)
    bad_chains = {
        "not for the key": pem(other_key) + tls.ca.pem,
        "expired": tls.ca.sign_csr(csr, days=1, start=NOW - timedelta(days=10)),
        "not valid before": tls.ca.sign_csr(csr, start=NOW + timedelta(days=5)),
        "is not issued by": tls.ca.sign_csr(csr).split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n" + make_ca("unrelated").pem,
    }
    for chain in bad_chains.values():
        answer = await cp.call(call.CertificateSigned(certificate_chain=chain), suppress=False)
        assert answer.status == "Rejected"
    assert adapter.certificates.signing_pending  # the request still waits for a good certificate
    good = await cp.call(call.CertificateSigned(certificate_chain=tls.ca.sign_csr(csr)), suppress=False)
    assert good.status == "Accepted"
    refused = lambda: [e for e in events(tls.csms) if e[0] == "InvalidChargePointCertificate"]  # noqa: E731
    await eventually(lambda: len(refused()) == 5, h.clock, 0.5)
    reported = [info or "" for kind, info in events(tls.csms) if kind == "InvalidChargePointCertificate"]
    assert "no certificate signing request is pending" in reported[0]
    for reason, info in zip(bad_chains, reported[1:], strict=True):
        assert reason in info, (reason, info)
    roots = [info or "" for kind, info in events(tls.csms) if kind == "InvalidCentralSystemCertificate"]
    assert len(roots) == 3 and "expired" in roots[0] and "not valid before" in roots[1]
    await stop(h)


def _some_csr() -> str:
    """A CSR for a key that is not the charger's (as if someone else had asked)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SN-42")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(Encoding.PEM).decode()


async def test_security_settings_changed_on_the_charger_are_a_security_event(
    harness: Harness, tmp_path: Path
) -> None:
    roots = tmp_path / "firmware-roots"
    roots.mkdir()
    (roots / "maker.pem").write_text(make_ca("maker").pem)
    harness.ocpp_overrides.update(firmware={"trust_roots": [roots]}, security_profile=1,
                                  authorization_key=PASSWORD, allow_insecure_basic_auth=True)
    adapter = await harness.start()
    assert not [e for e in adapter.security_log.since(0) if e.type == "ReconfigurationOfSecurityParameters"]
    await stop(harness)
    await harness.start()  # nothing changed: nothing to report
    await stop(harness)
    harness.ocpp_overrides["authorization_key"] = "another-secret-456"
    (roots / "maker.crl").write_text("a revocation list arrived")
    adapter = await harness.start()
    (event,) = [e for e in adapter.security_log.since(0) if e.type == "ReconfigurationOfSecurityParameters"]
    assert event.tech_info == ("changed on the charger since the last start: ocpp.authorization_key, "
                               "ocpp.firmware.trust_roots")
    database = (harness.tmp / "ocpp.sqlite3").read_bytes()
    assert PASSWORD.encode() not in database and b"another-secret-456" not in database
