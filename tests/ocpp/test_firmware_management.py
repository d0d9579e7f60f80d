"""UpdateFirmware, SignedUpdateFirmware and GetDiagnostics through the adapter, with a real HTTP server on
127.0.0.1 serving real signed bundles (tests/firmware_bundles.py) and a real websocket CSMS."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call

from firmware.ocpp.common.timefmt import rfc3339
from tests.firmware_bundles import make_pki, signed_bundle
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp_transfers.conftest import HttpFiles, http_files  # noqa: F401  (fixture)

_MATERIAL = tempfile.TemporaryDirectory(prefix="chargepi-fw-")
PKI = make_pki(Path(_MATERIAL.name) / "pki")
FIRMWARE = signed_bundle(Path(_MATERIAL.name), PKI.signer)
ROOTS = [str(PKI.roots)]


class FileServer:
    def __init__(self) -> None:
        self.uploads: list[tuple[str, bytes]] = []
        self.files: dict[str, bytes] = {"/fw.bin": FIRMWARE}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.uploads.append((self.path, body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.close()


def installing_to(installed: Path) -> dict[str, Any]:
    """[ocpp.firmware]: an install command that copies the verified bundle and announces version 9.9.9."""
    return {"install_command": f'cp "$1" {installed} && echo 9.9.9 > "$CHARGEPI_FIRMWARE_VERSION_FILE"',
            "trust_roots": ROOTS}


def statuses(harness: Harness, action: str) -> list[str]:
    return [p["status"] for p in harness.csms.calls(action)]


async def test_update_firmware_installs_restarts_and_reports_installed(
    harness: Harness, files: FileServer, tmp_path: Path
) -> None:
    installed = tmp_path / "installed.bin"
    harness.ocpp_overrides["firmware"] = installing_to(installed)
    adapter = await harness.start()
    assert "FirmwareManagement" in adapter.config.get("SupportedFeatureProfiles")
    assert harness.csms.cp is not None
    when = rfc3339(harness.clock.now())
    await harness.csms.cp.call(
        call.UpdateFirmware(location=files.url("/fw.bin"), retrieve_date=when), suppress=False
    )
    await eventually(lambda: harness.restarts == [False], harness.clock, 0.5, within=20)
    assert installed.read_bytes() == FIRMWARE
    assert statuses(harness, "FirmwareStatusNotification") == ["Downloading", "Downloaded", "Installing"]
    # The service restarts; the new process reports the new version and the final status once.
    await adapter.stop()
    harness.adapter = None
    harness.build(type(harness.station)(harness.clock))
    await harness.start()
    await eventually(lambda: statuses(harness, "FirmwareStatusNotification")[-1] == "Installed")
    assert harness.csms.calls("BootNotification")[-1]["firmwareVersion"] == "9.9.9"
    # A critical security event, delivered through the outbox.
    events = lambda: [(c["type"], c.get("techInfo")) for c in harness.csms.calls("SecurityEventNotification")]  # noqa: E731
    await eventually(lambda: ("FirmwareUpdated", "now running 9.9.9") in events(), harness.clock, 0.5)


async def test_firmware_restart_waits_for_the_session(harness: Harness, files: FileServer) -> None:
    harness.ocpp_overrides["firmware"] = {"install_command": "true", "trust_roots": ROOTS}
    await harness.start()
    harness.station.start(1, "BUSY")
    assert harness.csms.cp is not None
    when = rfc3339(harness.clock.now())
    await harness.csms.cp.call(
        call.UpdateFirmware(location=files.url("/fw.bin"), retrieve_date=when), suppress=False
    )
    await eventually(
        lambda: "Installing" in statuses(harness, "FirmwareStatusNotification"), harness.clock, 0.5
    )
    await harness.clock.advance(300)
    assert harness.restarts == []
    from firmware.core.vocabulary import StopReason

    harness.station.stop_session(1, StopReason.LOCAL)
    await eventually(lambda: harness.restarts == [False], harness.clock, 5)


async def test_get_diagnostics_uploads_after_answering(harness: Harness, files: FileServer) -> None:
    await harness.start()
    assert harness.csms.cp is not None
    answer = await harness.csms.cp.call(call.GetDiagnostics(location=files.url("/diag/")), suppress=False)
    assert answer.file_name.startswith("diagnostics-CP1-") and answer.file_name.endswith(".tar.gz")
    await eventually(
        lambda: statuses(harness, "DiagnosticsStatusNotification")[-1:] == ["Uploaded"], within=20
    )
    assert statuses(harness, "DiagnosticsStatusNotification") == ["Uploading", "Uploaded"]
    assert files.uploads[0][0] == "/diag/" + answer.file_name
    wire = [(d, f[0], f[2] if d == "in" else None) for d, f in harness.csms.wire]
    answered = next(i for i, w in enumerate(wire) if w[0] == "in" and w[1] == 3)
    uploading = next(i for i, w in enumerate(wire) if w[2] == "DiagnosticsStatusNotification")
    assert answered < uploading
    bad = await harness.csms.cp.call(call.GetDiagnostics(location="gopher://x/"), suppress=False)
    assert bad.file_name is None


async def test_update_firmware_not_offered_without_installer(harness: Harness) -> None:
    adapter = await harness.start()
    assert "FirmwareManagement" not in adapter.config.get("SupportedFeatureProfiles")
    assert harness.csms.cp is not None
    with pytest.raises(NotSupportedError):
        await harness.csms.cp.call(
            call.UpdateFirmware(location="http://x/", retrieve_date=rfc3339(harness.clock.now())),
            suppress=False,
        )


def signed_request(location: str, signer_pem: str, signature: str, when: str, request_id: int = 7) -> Any:
    return call.SignedUpdateFirmware(request_id=request_id, retries=1, firmware={
        "location": location, "retrieveDateTime": when, "signingCertificate": signer_pem,
        "signature": signature})


def signed_statuses(harness: Harness) -> list[tuple[str, int]]:
    return [(p["status"], p["requestId"]) for p in harness.csms.calls("SignedFirmwareStatusNotification")]


async def test_signed_update_firmware_verifies_installs_and_reports_with_the_request_id(
    harness: Harness, files: FileServer, tmp_path: Path
) -> None:
    installed = tmp_path / "installed.bin"
    harness.ocpp_overrides["firmware"] = installing_to(installed)
    adapter = await harness.start()
    assert harness.csms.cp is not None
    signer = PKI.signer
    answer = await harness.csms.cp.call(signed_request(
        files.url("/fw.bin"), signer.chain_pem.decode(), signer.signature_b64(FIRMWARE),
        rfc3339(harness.clock.now())), suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: harness.restarts == [False], harness.clock, 0.5, within=20)
    assert installed.read_bytes() == FIRMWARE
    assert signed_statuses(harness) == [("Downloading", 7), ("Downloaded", 7), ("SignatureVerified", 7),
                                        ("Installing", 7), ("InstallRebooting", 7)]
    assert harness.csms.calls("FirmwareStatusNotification") == []
    await adapter.stop()
    harness.adapter = None
    harness.build(type(harness.station)(harness.clock))
    await harness.start()
    await eventually(lambda: signed_statuses(harness)[-1] == ("Installed", 7))
    assert harness.csms.calls("BootNotification")[-1]["firmwareVersion"] == "9.9.9"


async def test_signed_update_firmware_refuses_unknown_certificates_and_wrong_signatures(
    harness: Harness, files: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = tmp_path / "installer-saw"
    harness.ocpp_overrides["firmware"] = {"install_command": f'cp "$1" {seen}', "trust_roots": ROOTS}
    await harness.start()
    assert harness.csms.cp is not None
    when = rfc3339(harness.clock.now())
    stranger = PKI.stranger
    answer = await harness.csms.cp.call(signed_request(
        files.url("/fw.bin"), stranger.chain_pem.decode(), stranger.signature_b64(FIRMWARE), when),
        suppress=False)
    assert answer.status == "InvalidCertificate"
    assert "does not chain to an installed manufacturer root" in caplog.text
    # a certificate the manufacturer revoked (roots/manufacturer.crl lists it)
    revoked = PKI.revoked
    answer = await harness.csms.cp.call(signed_request(
        files.url("/fw.bin"), revoked.chain_pem.decode(), revoked.signature_b64(FIRMWARE), when, 6),
        suppress=False)
    assert answer.status == "RevokedCertificate"
    # a valid certificate, but the signature is over another file
    signer = PKI.signer
    answer = await harness.csms.cp.call(signed_request(
        files.url("/fw.bin"), signer.chain_pem.decode(), signer.signature_b64(b"another file"), when, 8),
        suppress=False)
    assert answer.status == "Accepted"
    await eventually(lambda: signed_statuses(harness)[-1:] == [("InvalidSignature", 8)], harness.clock, 0.5)
    assert signed_statuses(harness) == [("Downloading", 8), ("Downloaded", 8), ("InvalidSignature", 8)]
    # validly signed as a file, but the bundle inside is not (unsigned manifest): install verification fails
    unsigned = signed_bundle(tmp_path / "u", None)
    files.files["/unsigned.bin"] = unsigned
    answer = await harness.csms.cp.call(signed_request(
        files.url("/unsigned.bin"), signer.chain_pem.decode(), signer.signature_b64(unsigned), when, 9),
        suppress=False)
    await eventually(lambda: signed_statuses(harness)[-1:] == [("InstallVerificationFailed", 9)],
                     harness.clock, 0.5)
    assert not seen.exists()
    assert harness.restarts == []
    # each refusal is in the security log (and so reported by SecurityEventNotification)
    assert harness.adapter is not None
    events = [e.type for e in harness.adapter.security_log.entries()]
    assert events.count("InvalidFirmwareSigningCertificate") == 2  # the unknown and the revoked one
    assert events.count("InvalidFirmwareSignature") == 2  # the file's signature, the unsigned manifest


async def test_plain_update_firmware_refuses_what_is_not_a_signed_bundle(
    harness: Harness, files: FileServer, tmp_path: Path
) -> None:
    seen = tmp_path / "installer-saw"
    harness.ocpp_overrides["firmware"] = {"install_command": f'cp "$1" {seen}', "trust_roots": ROOTS}
    await harness.start()
    assert harness.csms.cp is not None
    files.files["/raw.bin"] = b"#!/bin/sh\nrm -rf /\n"
    request = call.UpdateFirmware(location=files.url("/raw.bin"), retrieve_date=rfc3339(harness.clock.now()))
    await harness.csms.cp.call(request, suppress=False)
    await eventually(lambda: statuses(harness, "FirmwareStatusNotification")[-1:] == ["InstallationFailed"],
                     harness.clock, 0.5)
    assert statuses(harness, "FirmwareStatusNotification") == ["Downloading", "Downloaded",
                                                               "InstallationFailed"]
    assert not seen.exists() and harness.restarts == []


async def test_the_outcome_of_an_upload_during_an_outage_is_sent_after_it(
        harness: Harness, http_files: HttpFiles) -> None:  # noqa: F811
    adapter = await harness.start()
    assert harness.csms.cp is not None
    http_files.fail_next = 1  # the first attempt fails; the retry runs while the link is down
    await harness.csms.cp.call(call.GetDiagnostics(location=http_files.url("/diag/"), retries=2,
                                                   retry_interval=60), suppress=False)
    await eventually(lambda: http_files.requests == 1
                     and statuses(harness, "DiagnosticsStatusNotification") == ["Uploading"], within=20)
    await adapter.link.disable()
    await harness.clock.advance(61)
    await eventually(lambda: len(http_files.uploads) == 1, within=20)
    assert statuses(harness, "DiagnosticsStatusNotification") == ["Uploading"]
    adapter.link.enable()
    await eventually(lambda: statuses(harness, "DiagnosticsStatusNotification") == ["Uploading", "Uploaded"],
                     harness.clock, 0.1, within=20)
