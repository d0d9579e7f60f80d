"""The OCPP 1.6 security extension messages of the real charger against the strict ocpp-rpc CSMS, which
validates every frame in both directions against the OCPP 1.6 security schemas (date-time formats
included): security events, certificate management, SignCertificate / CertificateSigned,
ExtendedTriggerMessage and GetLog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import HarnessFactory
from tests.interop.harness import InteropCsms
from tests.interop.test_charger_profiles import charger, clean, drive
from tests.ocpp_transfers.conftest import HttpFiles, _serve_http
from tests.security.pki import make_ca

CP = "CP-IOP-SEC"


@pytest.fixture
def http_server() -> Iterator[HttpFiles]:
    yield from _serve_http(None)


async def test_security_extension_messages_pass_strict_validation(
    make_harness: HarnessFactory, interop_csms: InteropCsms, http_server: HttpFiles
) -> None:
    csms = interop_csms
    h = await charger(make_harness, csms, charge_point_id=CP)
    await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 2)
    # StartupOfTheDevice (critical) was delivered through the outbox.
    await drive(
        h,
        lambda: any(
            p["type"] == "StartupOfTheDevice" for _, p in csms.calls("SecurityEventNotification", cp=CP)
        ),
    )
    root = make_ca("interop operator")
    installed = await csms.call(
        CP, "InstallCertificate", {"certificateType": "CentralSystemRootCertificate", "certificate": root.pem}
    )
    assert installed == {"status": "Accepted"}
    ids = await csms.call(
        CP, "GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}
    )
    assert ids["status"] == "Accepted" and len(ids["certificateHashData"]) == 1
    assert await csms.call(CP, "ChangeConfiguration", {"key": "CpoName", "value": "Interop CPO"}) == {
        "status": "Accepted"
    }
    trigger = await csms.call(
        CP, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
    )
    assert trigger == {"status": "Accepted"}
    await drive(h, lambda: bool(csms.calls("SignCertificate", cp=CP)))
    csr = csms.calls("SignCertificate", cp=CP)[0][1]["csr"]
    signed = await csms.call(CP, "CertificateSigned", {"certificateChain": root.sign_csr(csr)})
    assert signed == {"status": "Accepted"}
    refused = await csms.call(CP, "CertificateSigned", {"certificateChain": root.sign_csr(csr)})
    assert refused == {"status": "Rejected"}  # that request was answered already
    await drive(
        h,
        lambda: any(
            p["type"] == "InvalidChargePointCertificate"
            for _, p in csms.calls("SecurityEventNotification", cp=CP)
        ),
    )
    log = await csms.call(
        CP,
        "GetLog",
        {"logType": "SecurityLog", "requestId": 42, "log": {"remoteLocation": http_server.url("/up/")}},
    )
    assert log["status"] == "Accepted"
    await drive(h, lambda: len(csms.calls("LogStatusNotification", cp=CP)) >= 2)
    assert [p for _, p in csms.calls("LogStatusNotification", cp=CP)] == [
        {"status": "Uploading", "requestId": 42},
        {"status": "Uploaded", "requestId": 42},
    ]
    idle = await csms.call(CP, "ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"})
    assert idle == {"status": "Accepted"}
    await drive(h, lambda: len(csms.calls("LogStatusNotification", cp=CP)) >= 3)
    deleted = await csms.call(CP, "DeleteCertificate", {"certificateHashData": ids["certificateHashData"][0]})
    assert deleted == {"status": "Accepted"}
    clean(csms)
