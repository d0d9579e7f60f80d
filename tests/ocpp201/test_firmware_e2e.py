"""UpdateFirmware (L01) of a whole 2.0.1 charger against the v201 test CSMS, with a real HTTP server on
127.0.0.1 serving real signed bundles (tests/firmware_bundles.py): every FirmwareStatusNotification with its
requestId, the restart into the new firmware (BootNotification FirmwareUpdate, Installed, FirmwareUpdated),
refused certificates and signatures with their security events, AcceptedCanceled, the wait for a running
transaction, and TriggerMessage FirmwareStatusNotification."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from ocpp.v201 import call, call_result

from firmware.ocpp.common.timefmt import rfc3339
from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp.test_firmware_management import (
    FIRMWARE,
    PKI,
    FileServer,
    files,  # noqa: F401  (fixture)
    installing_to,
)
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import events
from tests.ocpp201.test_transactions_recovery import kill

INSTALLED_OK = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]


def statuses(csms: Csms, request_id: int | None = None) -> list[str]:
    return [p["status"] for p in csms.of("FirmwareStatusNotification")
            if request_id is None or p.get("request_id") == request_id]


def security(csms: Csms) -> list[str]:
    return [p["type"] for p in csms.of("SecurityEventNotification")]


def restarting(h: Harness) -> bool:
    done = h.app._exit is not None and h.app._exit.done()
    return done and h.app._exit is not None and h.app._exit.result() == 75


def firmware(location: str, *, signer: Any = PKI.signer, data: bytes = FIRMWARE, when: str | None = None,
             **extra: Any) -> dict[str, Any]:
    body = {"location": location, "retrieve_date_time": when or "2020-01-01T00:00:00Z",
            "signing_certificate": signer.chain_pem.decode(), "signature": signer.signature_b64(data)}
    return {**body, **extra}


async def charger(make_harness: HarnessFactory, csms: Csms, tmp: Path, state_dir: Path,
                  clock: SimClock | None = None, connectors: int = 1, **model: Any) -> Harness:
    ocpp = {**section(csms.url), "firmware": installing_to(tmp / "installed.bin"), "device_model": model}
    h: Harness = await make_harness(state_dir=state_dir, ocpp=ocpp, clock=clock,
                                    connectors=[{"id": n} for n in range(1, connectors + 1)])
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    return h


async def update(csms: Csms, request_id: int, body: dict[str, Any], **extra: Any) -> str:
    assert csms.peer is not None
    answer = await csms.peer.call(call.UpdateFirmware(request_id=request_id, firmware=body, **extra),
                                  suppress=False)
    return str(answer.status)


async def trigger(csms: Csms) -> None:
    assert csms.peer is not None
    answer = await csms.peer.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"),
                                  suppress=False)
    assert answer.status == "Accepted"


async def test_signed_update_installs_restarts_and_reports_installed(
        make_harness: HarnessFactory, files: FileServer, tmp_path: Path, short_dir: Path) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        assert csms.boots[0]["reason"] == "PowerUp"
        await trigger(csms)  # nothing runs: Idle, without requestId (F06.FR.16, L01.FR.20)
        await eventually(lambda: statuses(csms) == ["Idle"], h.clock, 0.1, within=15)
        assert "request_id" not in csms.of("FirmwareStatusNotification")[0]

        assert await update(csms, 5, firmware(files.url("/fw.bin"))) == "Accepted"
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        assert statuses(csms, 5) == INSTALLED_OK  # L01.FR.01: every state, with the requestId
        assert (tmp_path / "installed.bin").read_bytes() == FIRMWARE

        await kill(h)  # the service restarts into the new firmware
        h2 = await charger(make_harness, csms, tmp_path, short_dir, SimClock(h.clock.now()))
        await eventually(lambda: statuses(csms, 5)[-1:] == ["Installed"], h2.clock, 0.1, within=15)
        boot = csms.boots[-1]
        assert boot["reason"] == "FirmwareUpdate"
        assert boot["charging_station"]["firmware_version"] == "9.9.9"
        await eventually(lambda: "FirmwareUpdated" in security(csms), h2.clock, 0.1, within=15)
        updated = [p for p in csms.of("SecurityEventNotification") if p["type"] == "FirmwareUpdated"]
        assert updated[0]["tech_info"] == "now running 9.9.9"
        await trigger(csms)  # after Installed: Idle (L01.FR.25)
        await eventually(lambda: statuses(csms)[-1] == "Idle", h2.clock, 0.1, within=15)
        # Reported once: a reconnect does not report it again, and boots as PowerUp.
        await h2.app.ocpp.link.reconnect()  # type: ignore[union-attr]
        await eventually(lambda: len(csms.boots) == 3, h2.clock, 0.5, within=15)
        await h2.advance(5)
        assert csms.boots[-1]["reason"] == "PowerUp" and statuses(csms, 5).count("Installed") == 1


async def test_refused_certificates_download_nothing(make_harness: HarnessFactory, files: FileServer,  # noqa: F811
                                                     tmp_path: Path, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        url = files.url("/fw.bin")
        assert await update(csms, 1, firmware(url, signer=PKI.stranger)) == "InvalidCertificate"
        assert await update(csms, 2, firmware(url, signer=PKI.expired)) == "InvalidCertificate"
        assert await update(csms, 3, firmware(url, signer=PKI.revoked)) == "RevokedCertificate"
        body = firmware(url)
        del body["signing_certificate"]  # L01.FR.11: the CSMS SHALL send it
        assert await update(csms, 4, body) == "InvalidCertificate"
        await eventually(lambda: len(security(csms)) >= 5, h.clock, 0.1, within=15)
        assert security(csms)[1:] == ["InvalidFirmwareSigningCertificate"] * 4  # after StartupOfTheDevice
        await h.advance(5)
        assert statuses(csms) == []


async def test_bad_or_missing_signature_is_invalid_signature(
        make_harness: HarnessFactory, files: FileServer, tmp_path: Path, short_dir: Path) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        url = files.url("/fw.bin")
        assert await update(csms, 1, firmware(url, data=b"another file")) == "Accepted"
        await eventually(lambda: statuses(csms, 1)[-1:] == ["InvalidSignature"], h.clock, 0.2, within=20)
        assert statuses(csms, 1) == ["Downloading", "Downloaded", "InvalidSignature"]
        # at once: the failed update ended with its last status (not AcceptedCanceled)
        body = firmware(url)
        del body["signature"]  # TC_L_18
        assert await update(csms, 2, body) == "Accepted"
        await eventually(lambda: statuses(csms, 2)[-1:] == ["InvalidSignature"], h.clock, 0.2, within=20)
        await eventually(lambda: security(csms).count("InvalidFirmwareSignature") == 2, h.clock, 0.1,
                         within=15)
        assert not (tmp_path / "installed.bin").exists() and not restarting(h)


async def test_a_new_request_cancels_a_scheduled_one_and_triggers_name_it(
        make_harness: HarnessFactory, files: FileServer, tmp_path: Path, short_dir: Path) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        later = rfc3339(h.clock.now() + timedelta(hours=1))
        assert await update(csms, 7, firmware(files.url("/fw.bin"), when=later)) == "Accepted"
        await eventually(lambda: statuses(csms, 7) == ["DownloadScheduled"], h.clock, 0.1, within=15)
        await trigger(csms)  # L01.FR.26: the running update's last status, with its requestId
        await eventually(lambda: statuses(csms, 7) == ["DownloadScheduled"] * 2, h.clock, 0.1, within=15)
        assert await update(csms, 8, firmware(files.url("/fw.bin"))) == "AcceptedCanceled"  # L01.FR.24
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        assert statuses(csms, 8) == INSTALLED_OK
        await h.advance(2 * 3600)
        assert statuses(csms, 7) == ["DownloadScheduled"] * 2  # the first one never runs


async def test_download_failure_after_its_retries(make_harness: HarnessFactory, files: FileServer,  # noqa: F811
                                                  tmp_path: Path, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        assert await update(csms, 3, firmware(files.url("/missing.bin")), retries=2,
                            retry_interval=30) == "Accepted"
        await eventually(lambda: statuses(csms, 3)[-1:] == ["DownloadFailed"], h.clock, 1.0, within=20)
        assert statuses(csms, 3) == ["Downloading", "DownloadFailed"]


async def test_the_restart_waits_for_the_transaction(make_harness: HarnessFactory, files: FileServer,  # noqa: F811
                                                     tmp_path: Path, short_dir: Path) -> None:
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        h.sim.plug()  # free charging: a transaction starts at the plug
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        assert await update(csms, 9, firmware(files.url("/fw.bin"))) == "Accepted"
        await eventually(lambda: "Installing" in statuses(csms, 9), h.clock, 0.5, within=20)
        await h.advance(600)
        assert not restarting(h) and "InstallRebooting" not in statuses(csms, 9)  # L01.FR.06
        await trigger(csms)  # installed, waiting for the restart: the last status, Installing (L01.FR.26)
        await eventually(lambda: statuses(csms, 9).count("Installing") == 2, h.clock, 0.1, within=15)
        h.sim.unplug()
        await eventually(lambda: restarting(h), h.clock, 1.0, within=20)
        assert statuses(csms, 9)[-1] == "InstallRebooting"
        assert events(csms)[-1]["event_type"] == "Ended"


@pytest.mark.parametrize("allowed", [False, True])
async def test_while_the_restart_waits_new_sessions_wait_too_unless_allowed(
        make_harness: HarnessFactory, files: FileServer, tmp_path: Path, short_dir: Path,  # noqa: F811
        allowed: bool) -> None:
    async with running_csms() as csms:
        preset: dict[str, Any] = {"ChargingStation.AllowNewSessionsPendingFirmwareUpdate": allowed}
        h = await charger(make_harness, csms, tmp_path, short_dir, None, 2, **preset)
        h.sim_connector(1).plug()  # free charging: a transaction starts at the plug
        await eventually(lambda: len(events(csms)) >= 1, h.clock, 0.1, within=15)
        assert await update(csms, 9, firmware(files.url("/fw.bin"))) == "Accepted"
        await eventually(lambda: "Installing" in statuses(csms, 9), h.clock, 0.5, within=20)
        await h.advance(60)

        def status_of(evse: int) -> str:
            return str([s["connector_status"] for s in csms.statuses if s["evse_id"] == evse][-1])

        # L01.FR.07: the idle EVSE takes no new session while the update waits, unless allowed
        assert status_of(2) == ("Available" if allowed else "Unavailable")
        assert status_of(1) == "Occupied"
        h.sim_connector(2).plug()
        await h.advance(5)
        began = {e["evse"]["id"] for e in events(csms) if e["event_type"] == "Started"}
        assert began == ({1, 2} if allowed else {1})
        h.sim_connector(1).unplug()
        if allowed:
            h.sim_connector(2).unplug()
        await eventually(lambda: restarting(h), h.clock, 1.0, within=20)


async def test_a_callerror_to_the_final_installed_status_keeps_the_connection(
        make_harness: HarnessFactory, files: FileServer, tmp_path: Path, short_dir: Path) -> None:  # noqa: F811
    """The CSMS answers the post-restart Installed with a CALLERROR: it has received it; the station logs
    it, keeps the connection (no new BootNotification), does not send it again, goes on to FirmwareUpdated."""
    async with running_csms() as csms:
        h = await charger(make_harness, csms, tmp_path, short_dir)
        assert await update(csms, 5, firmware(files.url("/fw.bin"))) == "Accepted"
        await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
        await kill(h)

        def refuse(payload: dict[str, Any]) -> Any:
            if payload["status"] == "Installed":
                raise InternalError(description="CSMS trouble")
            return call_result.FirmwareStatusNotification()

        csms.answers["FirmwareStatusNotification"] = refuse
        h2 = await charger(make_harness, csms, tmp_path, short_dir, SimClock(h.clock.now()))
        await eventually(lambda: "FirmwareUpdated" in security(csms), h2.clock, 0.1, within=15)
        await h2.advance(30)
        assert len(csms.boots) == 2 and statuses(csms, 5).count("Installed") == 1
