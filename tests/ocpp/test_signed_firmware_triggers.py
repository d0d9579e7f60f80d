"""ExtendedTriggerMessage for every message the security whitepaper lets the CSMS trigger, the firmware
status a trigger reports while a SignedUpdateFirmware runs, and a second SignedUpdateFirmware that replaces
the first (AcceptedCanceled) -- against the real websocket CSMS and HTTP server of the firmware tests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ocpp.v16 import call

from firmware.ocpp.common.timefmt import rfc3339
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.test_firmware_management import (
    FIRMWARE,
    PKI,
    FileServer,
    files,  # noqa: F401  (fixture)
    installing_to,
    signed_request,
    signed_statuses,
)


async def _trigger(harness: Harness, message: str, connector_id: int | None = None) -> str:
    assert harness.csms.cp is not None
    answer = await harness.csms.cp.call(
        call.ExtendedTriggerMessage(requested_message=message, connector_id=connector_id), suppress=False)
    return str(answer.status)


async def test_every_extended_trigger_sends_its_message(harness: Harness) -> None:
    await harness.start()
    csms = harness.csms
    await harness.settle()
    sent = {action: len(csms.calls(action)) for action in (
        "BootNotification", "LogStatusNotification", "SignedFirmwareStatusNotification", "Heartbeat",
        "MeterValues", "SignCertificate", "StatusNotification", "FirmwareStatusNotification")}
    expected = {"BootNotification": "BootNotification", "LogStatusNotification": "LogStatusNotification",
                "FirmwareStatusNotification": "SignedFirmwareStatusNotification", "Heartbeat": "Heartbeat",
                "MeterValues": "MeterValues", "SignChargePointCertificate": "SignCertificate",
                "StatusNotification": "StatusNotification"}
    for requested, action in expected.items():
        assert await _trigger(harness, requested) == "Accepted", requested
        await eventually(lambda a=action: len(csms.calls(a)) > sent[a], harness.clock, 0.1)  # type: ignore[misc]
    # No firmware update runs: Idle, without a requestId, in the whitepaper's message (not the 1.6 one).
    assert csms.calls("SignedFirmwareStatusNotification") == [{"status": "Idle"}]
    assert len(csms.calls("FirmwareStatusNotification")) == sent["FirmwareStatusNotification"]
    assert csms.calls("LogStatusNotification")[-1] == {"status": "Idle"}
    # Connector-specific messages for a connector that does not exist: Rejected, nothing sent.
    await harness.settle()
    before = len(csms.calls("StatusNotification")), len(csms.calls("MeterValues"))
    for requested in ("StatusNotification", "MeterValues"):
        assert await _trigger(harness, requested, connector_id=9) == "Rejected"
    assert await _trigger(harness, "StatusNotification", connector_id=1) == "Accepted"
    await eventually(lambda: len(csms.calls("StatusNotification")) == before[0] + 1, harness.clock, 0.1)
    await harness.settle()
    assert len(csms.calls("MeterValues")) == before[1]
    assert csms.calls("StatusNotification")[-1]["connectorId"] == 1


async def test_triggered_firmware_status_during_a_signed_update_names_its_request(
    harness: Harness, files: FileServer, tmp_path: Path  # noqa: F811
) -> None:
    harness.ocpp_overrides["firmware"] = installing_to(tmp_path / "installed.bin")
    await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    later = rfc3339(harness.clock.now() + timedelta(hours=1))
    signer = PKI.signer
    answer = await cp.call(signed_request(files.url("/fw.bin"), signer.chain_pem.decode(),
                                          signer.signature_b64(FIRMWARE), later), suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: signed_statuses(harness) == [("DownloadScheduled", 7)], harness.clock, 0.1)
    assert await _trigger(harness, "FirmwareStatusNotification") == "Accepted"
    await eventually(lambda: len(signed_statuses(harness)) == 2, harness.clock, 0.1)
    # TriggerMessage (1.6 core) too: the running update is a signed one, so it is reported as one.
    await cp.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"), suppress=False)
    await eventually(lambda: len(signed_statuses(harness)) == 3, harness.clock, 0.1)
    assert signed_statuses(harness) == [("DownloadScheduled", 7)] * 3
    assert harness.csms.calls("FirmwareStatusNotification") == []


async def test_a_second_signed_update_cancels_the_first(
    harness: Harness, files: FileServer, tmp_path: Path  # noqa: F811
) -> None:
    installed = tmp_path / "installed.bin"
    harness.ocpp_overrides["firmware"] = installing_to(installed)
    adapter = await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    signer = PKI.signer
    files.files["/old.bin"] = FIRMWARE
    later = rfc3339(harness.clock.now() + timedelta(hours=1))
    first = await cp.call(signed_request(files.url("/old.bin"), signer.chain_pem.decode(),
                                         signer.signature_b64(FIRMWARE), later, 7), suppress=False)
    assert first.status == "Accepted"
    await eventually(lambda: signed_statuses(harness) == [("DownloadScheduled", 7)], harness.clock, 0.1)
    second = await cp.call(signed_request(files.url("/fw.bin"), signer.chain_pem.decode(),
                                          signer.signature_b64(FIRMWARE), rfc3339(harness.clock.now()), 8),
                           suppress=False)
    assert second.status == "AcceptedCanceled"
    await eventually(lambda: harness.restarts == [False], harness.clock, 0.5, within=20)
    assert [s for s, r in signed_statuses(harness) if r == 8] == [
        "Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]
    # The first one is gone: its retrieve time passes without a download, and a restart does not resume it.
    await harness.clock.advance(2 * 3600)
    await harness.settle()
    assert [r for _, r in signed_statuses(harness)].count(7) == 1
    await adapter.stop()
    harness.adapter = None
    harness.build(type(harness.station)(harness.clock))
    await harness.start()
    await eventually(lambda: signed_statuses(harness)[-1] == ("Installed", 8))
    await harness.clock.advance(2 * 3600)
    await harness.settle()
    assert [r for _, r in signed_statuses(harness)].count(7) == 1
    assert not list((harness.tmp / "firmware").glob("download-*"))


async def test_an_installing_update_is_not_cancelled(
    harness: Harness, files: FileServer, tmp_path: Path  # noqa: F811
) -> None:
    started = tmp_path / "install-started"
    harness.ocpp_overrides["firmware"] = {"install_command": f'touch {started}; sleep 30',
                                          "trust_roots": installing_to(tmp_path / "x")["trust_roots"]}
    await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    signer = PKI.signer
    now = rfc3339(harness.clock.now())
    await cp.call(signed_request(files.url("/fw.bin"), signer.chain_pem.decode(),
                                 signer.signature_b64(FIRMWARE), now, 7), suppress=False)
    await eventually(lambda: started.exists(), within=20)
    again = await cp.call(signed_request(files.url("/fw.bin"), signer.chain_pem.decode(),
                                         signer.signature_b64(FIRMWARE), now, 8), suppress=False)
    assert again.status == "Rejected"
    assert [r for _, r in signed_statuses(harness)].count(8) == 0
