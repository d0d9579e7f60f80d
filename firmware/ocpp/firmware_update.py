"""Firmware management (OCPP 1.6 UpdateFirmware): wait for retrieveDate, download with retries, install
through a configurable command, and report the outcome after the restart that activates the new firmware.

Status sequence (OCPP 1.6 §4.5 / §6.22, OCTT TC_044): Downloading -> Downloaded -> Installing, then, after
the restart, Installed; or DownloadFailed / InstallationFailed. `Idle` is what a TriggerMessage for
FirmwareStatusNotification reports while no update runs.

Installation runs `install_command` (argv list, or a shell string) with the downloaded file as its last
argument (`$1` for a shell string) and in the environment:
  CHARGEPI_FIRMWARE_FILE          the downloaded file
  CHARGEPI_FIRMWARE_LOCATION      the URL it came from (password masked)
  CHARGEPI_FIRMWARE_VERSION_FILE  where the installer may write the new version string
Exit status 0 means installed; the caller then restarts the service (`update` returns RESTART_REQUIRED).
An installer that reboots the machine itself is handled too: at the next start the pending record tells
what happened (version file written, or the running version changed -> Installed; else InstallationFailed).

Progress is recorded in `<state_dir>/firmware/update.json` (written atomically, mode 0600) so that after a
restart the final status is sent exactly once: `report_after_restart()` sends it and clears the record only
after the notification went out. An update still waiting for its retrieveDate survives a restart too:
`resume_scheduled()` carries it on. The installed version is kept in `<state_dir>/firmware/version.json`
and reported by `firmware_version` until the running software's own version changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from firmware import __version__
from firmware.clock import Clock
from firmware.ocpp.transfer import TransferError, check_url, download, masked

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]


class FirmwareStatus(StrEnum):
    """FirmwareStatusNotification.req status values (OCPP 1.6 §7.25)."""

    IDLE = "Idle"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"


class UpdateOutcome(StrEnum):
    RESTART_REQUIRED = "restart-required"  # installed; restart the service to activate and report Installed
    DOWNLOAD_FAILED = "download-failed"
    INSTALLATION_FAILED = "installation-failed"


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` (mode 0600) so that a power cut leaves either the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold URL credentials
    with open(descriptor, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when missing or unreadable (logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


class FirmwareUpdater:
    """Runs one UpdateFirmware at a time and remembers its outcome across restarts."""

    def __init__(
        self,
        clock: Clock,
        state_dir: Path,
        install_command: list[str] | str,
        notify: Notify,
        *,
        running_version: str = __version__,
        download_timeout_s: float = 300.0,
        install_timeout_s: float = 1800.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not install_command:
            raise ValueError("install_command is empty: give the command that installs a firmware file")
        self._clock = clock
        self._dir = state_dir / "firmware"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._install_command = install_command
        self._notify = notify
        self._running_version = running_version
        self._download_timeout_s = download_timeout_s
        self._install_timeout_s = install_timeout_s
        self._ssl_context = ssl_context
        self._status = FirmwareStatus.IDLE
        self._busy = False
        self._scheduled: dict[str, Any] | None = None
        self._pending = self._recover()

    @property
    def _record_path(self) -> Path:
        return self._dir / "update.json"

    @property
    def _version_path(self) -> Path:
        return self._dir / "version.json"

    @property
    def _new_version_path(self) -> Path:
        return self._dir / "new-version"

    @property
    def install_log(self) -> Path:
        """Output of the install command (stdout and stderr) of the last installation."""
        return self._dir / "install.log"

    @property
    def status(self) -> FirmwareStatus:
        """The status a triggered FirmwareStatusNotification reports: Idle unless an update is running."""
        return self._status if self._busy else FirmwareStatus.IDLE

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def firmware_version(self) -> str:
        """The version to report in BootNotification: the last installed one, or the running software's."""
        record = read_json(self._version_path)
        if record and record.get("base_version") == self._running_version and record.get("version"):
            return str(record["version"])
        return self._running_version

    def _recover(self) -> FirmwareStatus | None:
        """Decide the final status of an update interrupted by a restart (sent by report_after_restart)."""
        record = read_json(self._record_path)
        if record is None:
            return None
        phase = record.get("phase")
        if phase == "scheduled":
            self._scheduled = record
            return None
        new_version = self._read_new_version()
        if phase == "installed" or (
            phase == "installing"
            and (new_version is not None or record.get("base_version") != self._running_version)
        ):
            if new_version is not None:
                base = record.get("base_version", self._running_version)
                write_json_atomically(self._version_path, {"version": new_version, "base_version": base})
            return FirmwareStatus.INSTALLED
        if phase == "installing":
            return FirmwareStatus.INSTALLATION_FAILED
        return FirmwareStatus.DOWNLOAD_FAILED

    def _read_new_version(self) -> str | None:
        try:
            text = self._new_version_path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text.splitlines()[0][:50] if text else None  # BootNotification firmwareVersion: max 50

    async def report_after_restart(self) -> FirmwareStatus | None:
        """Send the final status of an update that a restart interrupted or completed, exactly once.

        Call it after BootNotification was accepted. If the notification fails (raises), the record stays
        and the next call (or the next start) sends it again. Returns the status sent, or None.
        """
        if self._pending is None:
            return None
        await self._notify(self._pending)
        sent, self._pending = self._pending, None
        self._record_path.unlink(missing_ok=True)
        self._new_version_path.unlink(missing_ok=True)
        log.info("firmware update after restart: reported %s (running %s)", sent, self.firmware_version)
        return sent

    @property
    def scheduled(self) -> tuple[str, datetime] | None:
        """(location, retrieveDate) of an update that was waiting for its retrieveDate when we restarted."""
        if self._scheduled is None:
            return None
        return str(self._scheduled["location"]), datetime.fromisoformat(self._scheduled["retrieve_date"])

    async def resume_scheduled(self) -> UpdateOutcome | None:
        """Run the update a restart interrupted while it waited for its retrieveDate (None if there is none).

        Call it (as a task) after BootNotification was accepted, like `report_after_restart`.
        """
        record, self._scheduled = self._scheduled, None
        if record is None:
            return None
        return await self.update(
            str(record["location"]),
            datetime.fromisoformat(record["retrieve_date"]),
            int(record.get("attempts", 1)),
            float(record.get("retry_interval_s", 60.0)),
        )

    async def update(
        self,
        location: str,
        retrieve_date: datetime,
        retries: int = 1,
        retry_interval_s: float = 60.0,
    ) -> UpdateOutcome:
        """Run one UpdateFirmware.req to its end. `retries` is the number of download attempts (min 1).

        A naive `retrieve_date` is taken as UTC.
        """
        if retrieve_date.tzinfo is None:
            retrieve_date = retrieve_date.replace(tzinfo=UTC)
        if self._busy:
            raise RuntimeError("a firmware update is already running")
        self._busy = True
        try:
            return await self._update(location, retrieve_date, max(1, retries), max(0.0, retry_interval_s))
        finally:
            self._busy = False
            self._status = FirmwareStatus.IDLE

    async def _update(
        self, location: str, retrieve_date: datetime, attempts: int, retry_interval_s: float
    ) -> UpdateOutcome:
        try:
            check_url(location)
        except TransferError as exc:
            log.error("firmware update refused: %s", exc)
            await self._send(FirmwareStatus.DOWNLOAD_FAILED)
            return UpdateOutcome.DOWNLOAD_FAILED
        delay = (retrieve_date - self._clock.now()).total_seconds()
        # When cancelled (service stopping, or superseded by a newer request) the record stays: a restart then
        # resumes a scheduled update, or reports an interrupted one as failed.
        if delay > 0:
            log.info("firmware update from %s scheduled in %.0f s", masked(location), delay)
            schedule = {
                "phase": "scheduled",
                "location": location,  # with credentials: needed to download after a restart
                "retrieve_date": retrieve_date.isoformat(),
                "attempts": attempts,
                "retry_interval_s": retry_interval_s,
            }
            write_json_atomically(self._record_path, schedule)
            await self._clock.sleep(delay)
        write_json_atomically(self._record_path, {"phase": "downloading", "location": masked(location)})
        file = await self._download(location, attempts, retry_interval_s)
        if file is None:
            self._record_path.unlink(missing_ok=True)
            await self._send(FirmwareStatus.DOWNLOAD_FAILED)
            return UpdateOutcome.DOWNLOAD_FAILED
        await self._send(FirmwareStatus.DOWNLOADED)
        return await self._install(location, file)

    async def _download(self, location: str, attempts: int, retry_interval_s: float) -> Path | None:
        name = Path(unquote(urlsplit(location).path)).name or "firmware.bin"
        dest = self._dir / f"download-{name}"
        await self._send(FirmwareStatus.DOWNLOADING)
        for attempt in range(1, attempts + 1):
            try:
                size = await asyncio.to_thread(
                    download, location, dest, self._download_timeout_s, self._ssl_context
                )
            except TransferError as exc:
                log.warning("firmware download attempt %d/%d: %s", attempt, attempts, exc)
                if attempt < attempts:
                    await self._clock.sleep(retry_interval_s)
                continue
            log.info("firmware downloaded: %s (%d bytes)", dest, size)
            return dest
        return None

    async def _install(self, location: str, file: Path) -> UpdateOutcome:
        self._new_version_path.unlink(missing_ok=True)
        write_json_atomically(
            self._record_path,
            {"phase": "installing", "location": masked(location), "base_version": self._running_version},
        )
        await self._send(FirmwareStatus.INSTALLING)
        try:
            ok = await self._run_installer(location, file)
        finally:
            _remove(file)
        if not ok:
            self._record_path.unlink(missing_ok=True)
            self._new_version_path.unlink(missing_ok=True)
            await self._send(FirmwareStatus.INSTALLATION_FAILED)
            return UpdateOutcome.INSTALLATION_FAILED
        write_json_atomically(
            self._record_path,
            {"phase": "installed", "location": masked(location), "base_version": self._running_version},
        )
        log.info("firmware installed; a restart activates it and reports Installed")
        return UpdateOutcome.RESTART_REQUIRED

    async def _run_installer(self, location: str, file: Path) -> bool:
        if isinstance(self._install_command, str):
            argv = ["/bin/sh", "-c", self._install_command, "chargepi-install", str(file)]
        else:
            argv = [*self._install_command, str(file)]
        env = {
            **os.environ,
            "CHARGEPI_FIRMWARE_FILE": str(file),
            "CHARGEPI_FIRMWARE_LOCATION": masked(location),
            "CHARGEPI_FIRMWARE_VERSION_FILE": str(self._new_version_path),
        }
        with self.install_log.open("wb") as out:
            try:
                proc = await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=out, env=env)
            except OSError as exc:
                log.error("firmware install command %r could not start: %s", argv[0], exc)
                return False
            waiter = asyncio.ensure_future(proc.wait())
            deadline = asyncio.ensure_future(self._clock.sleep(self._install_timeout_s))
            try:
                await asyncio.wait({waiter, deadline}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                deadline.cancel()
                if not waiter.done():
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
                waiter.cancel()
        if proc.returncode != 0:
            log.error(
                "firmware install command failed (exit %s); output in %s", proc.returncode, self.install_log
            )
            return False
        return True

    async def _send(self, status: FirmwareStatus) -> None:
        self._status = status
        try:
            await self._notify(status)
        except Exception:
            log.exception("FirmwareStatusNotification %s could not be sent", status)
