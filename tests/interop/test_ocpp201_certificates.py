"""The real 2.0.1 charger's certificate management against the strict ocpp-rpc CSMS (tools/interop/csms.js,
schema validation both ways): InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
TriggerMessage SignChargingStationCertificate with SignCertificate, CertificateSigned. The charger runs on
simulated time; the network and the CSMS (which gives the real time) run in real time."""

from __future__ import annotations

from tests.conftest import HarnessFactory
from tests.interop.harness import run_interop_csms
from tests.interop.test_charger_profiles import clean, drive
from tests.interop.test_ocpp201_security import CP, charger, events
from tests.security.pki import make_ca, pem


async def test_certificate_management_strict(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(events(csms)) == 1)  # registered: StartupOfTheDevice
        root = make_ca("operator")
        install = {"certificateType": "CSMSRootCertificate", "certificate": root.pem}
        assert await csms.call(CP, "InstallCertificate", install) == {"status": "Accepted"}
        leaf = {"certificateType": "CSMSRootCertificate", "certificate": pem(root.issue("leaf")[0])}
        assert await csms.call(CP, "InstallCertificate", leaf) == {"status": "Rejected"}
        v2g = {"certificateType": "V2GRootCertificate", "certificate": make_ca("v2g").pem}
        assert await csms.call(CP, "InstallCertificate", v2g) == {
            "status": "Rejected", "statusInfo": {"reasonCode": "NotSupported"}}

        ids = await csms.call(CP, "GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
        assert ids["status"] == "Accepted"
        [chain] = ids["certificateHashDataChain"]
        assert chain["certificateType"] == "CSMSRootCertificate"
        assert chain["certificateHashData"]["serialNumber"] == format(root.cert.serial_number, "x")
        assert await csms.call(CP, "GetInstalledCertificateIds", {
            "certificateType": ["MORootCertificate"]}) == {"status": "NotFound"}

        sign = {"requestedMessage": "SignChargingStationCertificate"}
        trigger = await csms.call(CP, "TriggerMessage", sign)
        assert trigger == {"status": "Accepted"}
        await drive(h, lambda: bool(csms.calls("SignCertificate", cp=CP)))
        request = csms.calls("SignCertificate", cp=CP)[0][1]
        assert request["certificateType"] == "ChargingStationCertificate"
        stranger = await csms.call(CP, "CertificateSigned",
                                   {"certificateChain": make_ca("stranger").sign_csr(request["csr"])})
        assert stranger == {"status": "Rejected"}
        signed = await csms.call(CP, "CertificateSigned", {"certificateChain": root.sign_csr(request["csr"]),
                                                           "certificateType": "ChargingStationCertificate"})
        assert signed == {"status": "Accepted"}
        await drive(h, lambda: "InvalidChargingStationCertificate" in [t for t, _ in events(csms)])

        delete = {"certificateHashData": chain["certificateHashData"]}
        assert await csms.call(CP, "DeleteCertificate", delete) == {"status": "Accepted"}
        assert await csms.call(CP, "DeleteCertificate", delete) == {"status": "NotFound"}
        clean(csms)
