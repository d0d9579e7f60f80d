"""The real 2.0.1 charger against the strict ocpp-rpc CSMS (tools/interop/csms.js, schema validation both
ways): SecurityEventNotification, also for events recorded while offline; UpdateFirmware with
FirmwareStatusNotification and TriggerMessage; GetLog with LogStatusNotification. The charger runs on
simulated time; the network and the CSMS run in real time."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from firmware.ocpp.v201.adapter import Adapter201
from firmware.security.events import SecurityEventType
from tests.conftest import Harness, HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms
from tests.interop.test_charger_profiles import clean, drive
from tests.ocpp.test_firmware_management import (
    FIRMWARE,
    PKI,
    FileServer,
    files,  # noqa: F401  (fixture)
    installing_to,
)
from tests.ocpp_transfers.conftest import HttpFiles, http_files  # noqa: F401  (fixture)

CP = "CP_201_SEC"


async def charger(make_harness: HarnessFactory, csms: InteropCsms, **ocpp: Any) -> Harness:
    section = {"url": csms.url, "charge_point_id": CP, "version": "2.0.1", "ping_interval_s": 0,
               "reconnect_min_s": 1.0, "response_timeout_s": 5.0, **ocpp}
    harness: Harness = await make_harness(ocpp=section, station={"free_charging": True})
    return harness


def events(csms: InteropCsms) -> list[tuple[str, str | None]]:
    return [(p["type"], p.get("techInfo")) for _, p in csms.calls("SecurityEventNotification", cp=CP)]


async def test_security_events_strict(make_harness: HarnessFactory) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(events(csms)) == 1)
        assert events(csms)[0][0] == "StartupOfTheDevice"
        runtime = h.app.ocpp
        assert isinstance(runtime, Adapter201)
        await runtime.link.disable()
        h.app.security_log.record(SecurityEventType.INVALID_CHARGING_STATION_CERTIFICATE, "not ours")
        h.app.security_log.record(SecurityEventType.SECURITY_LOG_WAS_CLEARED)
        runtime.link.enable()
        await drive(h, lambda: len(events(csms)) == 3)
        assert events(csms)[1:] == [("InvalidChargingStationCertificate", "not ours"),
                                    ("SecurityLogWasCleared", None)]
        clean(csms)


async def test_update_firmware_strict(make_harness: HarnessFactory, files: FileServer,  # noqa: F811
                                      tmp_path: Path) -> None:
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms, firmware=installing_to(tmp_path / "installed.bin"))
        await drive(h, lambda: len(events(csms)) == 1)
        body = {"location": files.url("/fw.bin"), "retrieveDateTime": "2020-01-01T00:00:00Z",
                "signingCertificate": PKI.signer.chain_pem.decode(),
                "signature": PKI.signer.signature_b64(FIRMWARE)}
        refused = await csms.call(CP, "UpdateFirmware", {"requestId": 1, "firmware": {
            **body, "signingCertificate": PKI.stranger.chain_pem.decode()}})
        assert refused == {"status": "InvalidCertificate"}
        accepted = await csms.call(CP, "UpdateFirmware", {"requestId": 2, "firmware": body, "retries": 1,
                                                          "retryInterval": 10})
        assert accepted == {"status": "Accepted"}
        sent = lambda: [(p["status"], p.get("requestId")) for _, p in  # noqa: E731
                        csms.calls("FirmwareStatusNotification", cp=CP)]
        await drive(h, lambda: len(sent()) >= 5)
        assert sent() == [(s, 2) for s in ("Downloading", "Downloaded", "SignatureVerified", "Installing",
                                           "InstallRebooting")]
        await drive(h, lambda: "InvalidFirmwareSigningCertificate" in [t for t, _ in events(csms)])
        trigger = await csms.call(CP, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
        assert trigger == {"status": "Accepted"}
        await drive(h, lambda: len(sent()) == 6)
        assert sent()[-1] == ("InstallRebooting", 2)  # the last status sent (L01.FR.26): the restart is due
        clean(csms)


async def test_get_log_strict(make_harness: HarnessFactory, http_files: HttpFiles) -> None:  # noqa: F811
    async with run_interop_csms() as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: len(events(csms)) == 1)
        answer = await csms.call(CP, "GetLog", {"logType": "SecurityLog", "requestId": 4, "retries": 1,
                                                "log": {"remoteLocation": http_files.url("/up/"),
                                                        "oldestTimestamp": "2020-01-01T00:00:00Z"}})
        assert answer["status"] == "Accepted" and answer["filename"].startswith("securitylog-")
        sent = lambda: [(p["status"], p.get("requestId")) for _, p in  # noqa: E731
                        csms.calls("LogStatusNotification", cp=CP)]
        await drive(h, lambda: len(sent()) == 2)
        assert sent() == [("Uploading", 4), ("Uploaded", 4)]
        assert b"StartupOfTheDevice" in gzip.decompress(http_files.uploads[0][3])
        refused = await csms.call(CP, "GetLog", {"logType": "DiagnosticsLog", "requestId": 5,
                                                 "log": {"remoteLocation": "file:///etc/passwd"}})
        assert refused == {"status": "Rejected"}
        trigger = await csms.call(CP, "TriggerMessage", {"requestedMessage": "LogStatusNotification"})
        assert trigger == {"status": "Accepted"}
        await drive(h, lambda: len(sent()) == 3)
        assert sent()[-1] == ("Idle", None)
        clean(csms)
