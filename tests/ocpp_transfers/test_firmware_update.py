"""FirmwareUpdater against real HTTP and FTP servers, real install commands, and restarts; every file served
is a real signed bundle (tests/firmware_bundles.py) unless a test is about refusing one."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import tempfile
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware.ocpp.common.firmware_update import FirmwareStatus, FirmwareUpdater, UpdateOutcome
from hal.clock import SimClock
from tests.firmware_bundles import make_pki, signed_bundle, tampered, wrong_dependency_hash
from tests.ocpp_transfers.conftest import FtpFiles, HttpFiles
from tests.ocpp_transfers.waiting import eventually

_MATERIAL = tempfile.TemporaryDirectory(prefix="chargepi-fw-")
PKI = make_pki(Path(_MATERIAL.name) / "pki")
FIRMWARE = signed_bundle(Path(_MATERIAL.name), PKI.signer)

# Installs by copying the image next to the state dir and announcing version 2.0.0.
INSTALLER = (
    'cp "$1" "$CHARGEPI_FIRMWARE_FILE.installed-copy" && echo 2.0.0 > "$CHARGEPI_FIRMWARE_VERSION_FILE"'
)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail = False

    async def __call__(self, status: str) -> None:
        if self.fail:
            raise ConnectionError("offline")
        self.sent.append(status)


def make_updater(
    clock: SimClock, state: Path, notify: Recorder, command: list[str] | str = INSTALLER, **kw: Any
) -> FirmwareUpdater:
    return FirmwareUpdater(clock, state, command, notify, running_version="1.0.0",
                           trust_roots=[PKI.roots], **kw)


async def test_http_update_waits_for_retrieve_date_installs_and_reports_after_restart(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw/chargepi-2.0.0.bin"] = FIRMWARE
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify)
    task = asyncio.create_task(
        updater.update(http_files.url("/fw/chargepi-2.0.0.bin"), clock.now() + timedelta(hours=1))
    )
    await clock.advance(3599)
    assert notify.sent == [] and http_files.requests == 0
    assert updater.status is FirmwareStatus.IDLE
    await clock.advance(1)
    assert await asyncio.wait_for(task, 10) is UpdateOutcome.RESTART_REQUIRED
    assert notify.sent == ["Downloading", "Downloaded", "Installing"]
    # the install command saw the downloaded file (a name of its own per update: download-<id>-<name>)
    (installed_copy,) = (tmp_path / "state/firmware").glob("download-*-chargepi-2.0.0.bin.installed-copy")
    assert installed_copy.read_bytes() == FIRMWARE
    assert updater.status is FirmwareStatus.IDLE
    assert updater.firmware_version == "1.0.0"  # not active until the restart

    restarted_notify = Recorder()
    restarted = make_updater(clock, tmp_path / "state", restarted_notify)
    assert restarted.firmware_version == "2.0.0"
    assert await restarted.report_after_restart() is FirmwareStatus.INSTALLED
    assert await restarted.report_after_restart() is None
    assert restarted_notify.sent == ["Installed"]

    again = Recorder()
    third = make_updater(clock, tmp_path / "state", again)
    assert await third.report_after_restart() is None
    assert again.sent == [] and third.firmware_version == "2.0.0"


async def test_https_download_verifies_the_server_against_the_configured_ca(
    tmp_path: Path, https_files: tuple[HttpFiles, Path]
) -> None:
    server, ca = https_files
    server.files["/fw.bin"] = FIRMWARE
    clock = SimClock()
    untrusting = make_updater(clock, tmp_path / "a", Recorder())
    assert await untrusting.update(server.url("/fw.bin"), clock.now()) is UpdateOutcome.DOWNLOAD_FAILED
    assert server.requests == 0  # refused during the TLS handshake
    notify = Recorder()
    trusting = make_updater(
        clock, tmp_path / "b", notify, ssl_context=ssl.create_default_context(cafile=str(ca))
    )
    assert await trusting.update(server.url("/fw.bin"), clock.now()) is UpdateOutcome.RESTART_REQUIRED
    assert notify.sent == ["Downloading", "Downloaded", "Installing"]


async def test_a_scheduled_update_survives_a_restart(tmp_path: Path, ftp_files: FtpFiles) -> None:
    (ftp_files.root / "fw.bin").write_bytes(FIRMWARE)
    clock = SimClock()
    location = ftp_files.url("/fw.bin")
    first = make_updater(clock, tmp_path / "state", Recorder())
    task = asyncio.create_task(first.update(location, clock.now() + timedelta(hours=6), 2, 30))
    await clock.advance(3600)
    task.cancel()  # the service stops for a restart
    with pytest.raises(asyncio.CancelledError):
        await task
    record = tmp_path / "state/firmware/update.json"
    assert record.stat().st_mode & 0o777 == 0o600  # it holds the FTP password

    notify = Recorder()
    restarted = make_updater(clock, tmp_path / "state", notify)
    assert restarted.scheduled == (location, clock.now() + timedelta(hours=5))
    assert await restarted.report_after_restart() is None
    resumed = asyncio.create_task(restarted.resume_scheduled())
    await clock.advance(5 * 3600 - 1)
    assert notify.sent == []
    await clock.advance(1)
    assert await asyncio.wait_for(resumed, 10) is UpdateOutcome.RESTART_REQUIRED
    assert notify.sent == ["Downloading", "Downloaded", "Installing"]
    assert await make_updater(clock, tmp_path / "state", Recorder()).resume_scheduled() is None


async def test_ftp_download_retries_after_retry_interval(tmp_path: Path, ftp_files: FtpFiles) -> None:
    clock, notify = SimClock(), Recorder()
    (ftp_files.root / "fw").mkdir()
    updater = make_updater(clock, tmp_path / "state", notify)
    task = asyncio.create_task(
        updater.update(ftp_files.url("/fw/image.bin"), clock.now(), retries=3, retry_interval_s=120)
    )
    await eventually(lambda: clock.next_deadline is not None)  # first attempt failed, waiting to retry
    assert notify.sent == ["Downloading"]
    assert updater.status is FirmwareStatus.DOWNLOADING
    (ftp_files.root / "fw/image.bin").write_bytes(FIRMWARE)
    await clock.advance(119)
    assert not task.done()
    await clock.advance(1)
    assert await asyncio.wait_for(task, 10) is UpdateOutcome.RESTART_REQUIRED
    assert notify.sent == ["Downloading", "Downloaded", "Installing"]
    (copy,) = (tmp_path / "state/firmware").glob("download-*-image.bin.installed-copy")
    assert copy.read_bytes() == FIRMWARE


async def test_download_fails_after_all_retries(tmp_path: Path, http_files: HttpFiles) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    http_files.fail_next = 5
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify)
    task = asyncio.create_task(updater.update(http_files.url("/fw.bin"), clock.now(), 3, 30))
    for expected_requests in (1, 2):

        def retry_pending(n: int = expected_requests) -> bool:
            return http_files.requests == n and clock.next_deadline is not None

        await eventually(retry_pending)
        await clock.advance(30)
    assert await asyncio.wait_for(task, 10) is UpdateOutcome.DOWNLOAD_FAILED
    assert http_files.requests == 3
    assert notify.sent == ["Downloading", "DownloadFailed"]
    assert await make_updater(clock, tmp_path / "state", notify).report_after_restart() is None


async def test_a_download_interrupted_by_a_restart_is_reported_failed(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.fail_next = 1
    clock = SimClock()
    task = asyncio.create_task(
        make_updater(clock, tmp_path / "state", Recorder()).update(
            http_files.url("/fw.bin"), clock.now(), 3, 60
        )
    )
    await eventually(lambda: clock.next_deadline is not None)  # waiting to retry
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notify = Recorder()
    restarted = make_updater(clock, tmp_path / "state", notify)
    assert restarted.scheduled is None
    assert await restarted.report_after_restart() is FirmwareStatus.DOWNLOAD_FAILED
    assert notify.sent == ["DownloadFailed"]


async def test_wrong_ftp_password_is_a_download_failure(tmp_path: Path, ftp_files: FtpFiles) -> None:
    (ftp_files.root / "fw.bin").write_bytes(FIRMWARE)
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify)
    outcome = await updater.update(ftp_files.url("/fw.bin", password="wrong"), clock.now())
    assert outcome is UpdateOutcome.DOWNLOAD_FAILED
    assert notify.sent == ["Downloading", "DownloadFailed"]


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "http:///no-host", "ftp://u:secret@host:99999/fw.bin", "http://h:x/fw"]
)
async def test_unusable_location_is_reported_as_download_failed(
    tmp_path: Path, location: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify)
    assert await updater.update(location, clock.now()) is UpdateOutcome.DOWNLOAD_FAILED
    assert notify.sent == ["DownloadFailed"]
    assert "secret" not in caplog.text


async def test_a_request_while_the_final_status_is_in_flight_starts_afresh(tmp_path: Path) -> None:
    """The CSMS may send the next UpdateFirmware before the station has its answer to the last status: the
    ended update is no longer running (no AcceptedCanceled) and its end does not end the new one."""
    clock = SimClock()
    later: list[asyncio.Task[UpdateOutcome]] = []
    answered = asyncio.Event()

    class SlowCsms(Recorder):
        async def __call__(self, status: str) -> None:
            await super().__call__(status)
            if status == "DownloadFailed" and not later:
                assert not updater.busy  # the failed update has ended: nothing to cancel
                later.append(asyncio.create_task(updater.update("ftp://csms.example/fw.bin",
                                                                clock.now() + timedelta(hours=1))))
                await answered.wait()  # the answer to DownloadFailed comes only now

    notify = SlowCsms()
    updater = make_updater(clock, tmp_path / "state", notify)
    first = asyncio.create_task(updater.update("gopher://nowhere/fw.bin", clock.now()))
    await eventually(lambda: later != [] and updater.busy)
    answered.set()
    assert await asyncio.wait_for(first, 10) is UpdateOutcome.DOWNLOAD_FAILED
    assert updater.busy and not later[0].done()  # the new, scheduled update still runs
    later[0].cancel()


async def test_failing_install_command_reports_installation_failed(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify, ["sh", "-c", "echo bad image >&2; exit 3"])
    assert await updater.update(http_files.url("/fw.bin"), clock.now()) is UpdateOutcome.INSTALLATION_FAILED
    assert notify.sent == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert "bad image" in updater.install_log.read_text()
    assert not list((tmp_path / "state/firmware").glob("download-*"))  # image removed
    restarted = make_updater(clock, tmp_path / "state", Recorder())
    assert await restarted.report_after_restart() is None
    assert restarted.firmware_version == "1.0.0"


async def test_missing_install_program_reports_installation_failed(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify, ["/nonexistent/installer"])
    assert await updater.update(http_files.url("/fw.bin"), clock.now()) is UpdateOutcome.INSTALLATION_FAILED
    assert notify.sent[-1] == "InstallationFailed"


async def test_hanging_installer_is_killed_at_the_install_timeout(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify, ["sh", "-c", "sleep 60"], install_timeout_s=900)
    task = asyncio.create_task(updater.update(http_files.url("/fw.bin"), clock.now()))
    await eventually(lambda: notify.sent[-1:] == ["Installing"])
    await clock.advance(899)
    assert not task.done()
    await clock.advance(1)
    assert await asyncio.wait_for(task, 5) is UpdateOutcome.INSTALLATION_FAILED
    assert notify.sent[-1] == "InstallationFailed"


async def test_final_status_is_resent_after_a_failed_notification(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    clock, notify = SimClock(), Recorder()
    await make_updater(clock, tmp_path / "state", notify).update(http_files.url("/fw.bin"), clock.now())
    offline = Recorder()
    offline.fail = True
    with pytest.raises(ConnectionError):
        await make_updater(clock, tmp_path / "state", offline).report_after_restart()
    online = Recorder()
    assert await make_updater(clock, tmp_path / "state", online).report_after_restart() == "Installed"
    assert online.sent == ["Installed"]


async def test_a_newer_running_version_wins_over_the_recorded_one(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    clock = SimClock()
    await make_updater(clock, tmp_path / "state", Recorder()).update(http_files.url("/fw.bin"), clock.now())
    assert make_updater(clock, tmp_path / "state", Recorder()).firmware_version == "2.0.0"
    upgraded = FirmwareUpdater(clock, tmp_path / "state", INSTALLER, Recorder(), running_version="3.1.0",
                               trust_roots=[PKI.roots])
    assert upgraded.firmware_version == "3.1.0"


REBOOTING_CHARGER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from hal.clock import RealClock
    from firmware.ocpp.common.firmware_update import FirmwareUpdater

    async def notify(status):
        print(status, flush=True)

    async def main():
        clock = RealClock()
        updater = FirmwareUpdater(clock, Path(sys.argv[1]), sys.argv[3], notify, running_version="1.0.0",
                                  trust_roots=[Path(sys.argv[4])])
        await updater.update(sys.argv[2], clock.now())
        print("survived", flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("installer", "running_after", "final", "version_after"),
    [
        # The installer writes the version and reboots the machine (kills the charger) before exiting.
        (
            'echo 2.5.0 > "$CHARGEPI_FIRMWARE_VERSION_FILE"; kill -9 $PPID; sleep 5',
            "1.0.0",
            "Installed",
            "2.5.0",
        ),
        # The installer replaces the software (new running version) and reboots.
        ("kill -9 $PPID; sleep 5", "2.6.0", "Installed", "2.6.0"),
        # Power cut while installing: nothing changed.
        ("kill -9 $PPID; sleep 5", "1.0.0", "InstallationFailed", "1.0.0"),
    ],
)
async def test_installer_that_reboots_the_charger(
    tmp_path: Path, http_files: HttpFiles, installer: str, running_after: str, final: str, version_after: str
) -> None:
    http_files.files["/fw.bin"] = FIRMWARE
    state = tmp_path / "state"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        REBOOTING_CHARGER,
        str(state),
        http_files.url("/fw.bin"),
        installer,
        str(PKI.roots),
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == -9
    assert out.decode().split() == ["Downloading", "Downloaded", "Installing"]
    notify = Recorder()
    restarted = FirmwareUpdater(SimClock(), state, INSTALLER, notify, running_version=running_after,
                                trust_roots=[PKI.roots])
    assert restarted.firmware_version == version_after
    await restarted.report_after_restart()
    assert notify.sent == [final]


BAD_BUNDLES = {
    "tampered": lambda: tampered(FIRMWARE),
    "unknown-signer": lambda: signed_bundle(Path(_MATERIAL.name) / "stranger", PKI.stranger),
    "expired-signer": lambda: signed_bundle(Path(_MATERIAL.name) / "expired", PKI.expired),
    "wrong-dependency-hash": lambda: wrong_dependency_hash(FIRMWARE, PKI.signer),
    "unsigned": lambda: signed_bundle(Path(_MATERIAL.name) / "unsigned", None),
    "not-a-bundle": lambda: b"\x7fELF raw firmware image" * 100,
}


async def test_only_the_validly_signed_bundle_reaches_the_installer(tmp_path: Path, http_files: HttpFiles,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The firmware server offers a good bundle and bad ones; the install command only ever runs for the good
    one (it records every file it gets)."""
    for name, make in BAD_BUNDLES.items():
        http_files.files[f"/{name}.bundle"] = make()
    http_files.files["/good.bundle"] = FIRMWARE
    http_files.files["/good-rsa.bundle"] = signed_bundle(tmp_path / "rsa", PKI.rsa_signer)
    seen = tmp_path / "installer-saw"
    command = f'sha256sum "$1" >> {seen}'
    clock = SimClock()
    for name in BAD_BUNDLES:
        notify = Recorder()
        updater = make_updater(clock, tmp_path / name, notify, command)
        assert await updater.update(http_files.url(f"/{name}.bundle"), clock.now()) \
            is UpdateOutcome.INSTALLATION_FAILED, name
        assert notify.sent == ["Downloading", "Downloaded", "InstallationFailed"], name
        assert not seen.exists(), name
        assert not list((tmp_path / name / "firmware").glob("download-*"))  # the refused file is gone
    assert "hash" in caplog.text and "does not chain to an installed manufacturer root" in caplog.text
    assert "is not valid at" in caplog.text and "not signed" in caplog.text
    for good in ("good", "good-rsa"):
        notify = Recorder()
        updater = make_updater(clock, tmp_path / good, notify, command)
        assert await updater.update(http_files.url(f"/{good}.bundle"), clock.now()) \
            is UpdateOutcome.RESTART_REQUIRED
        assert notify.sent == ["Downloading", "Downloaded", "Installing"]
    assert len(seen.read_text().splitlines()) == 2


async def test_the_development_switch_installs_unsigned_bundles_loudly(
    tmp_path: Path, http_files: HttpFiles, caplog: pytest.LogCaptureFixture
) -> None:
    http_files.files["/unsigned.bundle"] = BAD_BUNDLES["unsigned"]()
    http_files.files["/tampered.bundle"] = BAD_BUNDLES["tampered"]()
    clock, notify = SimClock(), Recorder()
    updater = make_updater(clock, tmp_path / "state", notify, "true", allow_unsigned=True)
    assert "DEVELOPMENT SWITCH" in caplog.text
    outcome = await updater.update(http_files.url("/unsigned.bundle"), clock.now())
    assert outcome is UpdateOutcome.RESTART_REQUIRED
    assert "UNSIGNED" in caplog.text
    # hashes still count
    assert await updater.update(http_files.url("/tampered.bundle"), clock.now()) \
        is UpdateOutcome.INSTALLATION_FAILED
