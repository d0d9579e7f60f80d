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
import base64
import contextlib
import json
import logging
import os
import shutil
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ocpp.exceptions import OCPPError

from firmware import __version__
from firmware.ocpp.common.transfer import TransferError, check_url, download, masked
from firmware.update.bundle import BundleError, Problem, verify_bundle
from firmware.update.signing import (
    SignatureProblem,
    load_chain,
    load_revocations,
    load_roots,
    verify_chain,
    verify_signature,
)
from hal.clock import Clock

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]
NotifySigned = Callable[[str, int], Awaitable[None]]  # SignedFirmwareStatusNotification(status, requestId)
Refusal = tuple["FirmwareStatus", tuple[str, str] | None]  # status to report, security event to record
INSTALLER_POLL_S = 2.0  # how often we look for the installer service's answer
ACTIVATION_WAIT_S = 120.0  # how long we wait for the installer service to restart us after the switch


class FirmwareStatus(StrEnum):
    """Firmware status values: FirmwareStatusNotification (OCPP 1.6 §7.25) and, for SignedUpdateFirmware, the
    security whitepaper's SignedFirmwareStatusNotification (which adds the scheduling and signature ones)."""

    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    INVALID_SIGNATURE = "InvalidSignature"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"


# What plain FirmwareStatusNotification reports for the signed-only statuses (None: nothing is sent).
_PLAIN: dict[FirmwareStatus, FirmwareStatus | None] = {
    FirmwareStatus.DOWNLOAD_SCHEDULED: None,
    FirmwareStatus.SIGNATURE_VERIFIED: None,
    FirmwareStatus.INSTALL_SCHEDULED: None,
    FirmwareStatus.INSTALL_REBOOTING: None,
    FirmwareStatus.INVALID_SIGNATURE: FirmwareStatus.INSTALLATION_FAILED,
    FirmwareStatus.INSTALL_VERIFICATION_FAILED: FirmwareStatus.INSTALLATION_FAILED,
}


# Once installation started an update is no longer cancelled by a newer request.
_INSTALL_PHASE = frozenset({FirmwareStatus.INSTALLING, FirmwareStatus.INSTALL_REBOOTING,
                            FirmwareStatus.INSTALLED, FirmwareStatus.INSTALLATION_FAILED})


@dataclass(frozen=True)
class SignedRequest:
    """What SignedUpdateFirmware adds: the request id, the signing certificate and the file's signature."""

    request_id: int
    certificate_pem: str
    signature_b64: str
    install_date: datetime | None = None


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
    """Runs one UpdateFirmware or SignedUpdateFirmware at a time and remembers its outcome across restarts.

    Nothing is installed that is not a firmware bundle (`firmware/update/bundle.py`) signed by a certificate
    chaining to one of `trust_roots`, unless `allow_unsigned` (the development switch) is on. Installation
    goes either to the firmware installer service through `update_dir` (the shipped setup), or to
    `install_command`, which then only ever sees a verified bundle.
    """

    def __init__(
        self,
        clock: Clock,
        state_dir: Path,
        install_command: list[str] | str,
        notify: Notify,
        *,
        trust_roots: list[Path],
        allow_unsigned: bool = False,
        update_dir: Path | None = None,
        notify_signed: NotifySigned | None = None,
        security_event: Callable[[str, str], object] | None = None,
        running_version: str = __version__,
        download_timeout_s: float = 300.0,
        install_timeout_s: float = 1800.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not install_command and update_dir is None:
            raise ValueError("give update_dir (the installer service) or install_command")
        self._clock = clock
        self._dir = state_dir / "firmware"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._install_command = install_command
        self._update_dir = update_dir
        self._trust_roots = trust_roots
        self._allow_unsigned = allow_unsigned
        self._notify = notify
        self._notify_signed = notify_signed
        self._security_event = security_event  # (type, techInfo): the security log, when there is one
        self._running_version = running_version
        self._download_timeout_s = download_timeout_s
        self._install_timeout_s = install_timeout_s
        self._ssl_context = ssl_context
        self._status = FirmwareStatus.IDLE
        self._busy = False
        self._run: object | None = None  # the running update's token: only it may end itself
        self._request_id: int | None = None
        self._target: str | None = None
        self._scheduled: dict[str, Any] | None = None
        self._pending = self._recover()
        if allow_unsigned:
            log.warning("DEVELOPMENT SWITCH [ocpp.firmware] allow_unsigned IS ON: UNSIGNED FIRMWARE IS "
                        "INSTALLED. Never run a charger in the field like this.")

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
        if not self._busy:
            return FirmwareStatus.IDLE
        return _PLAIN.get(self._status, self._status) or FirmwareStatus.IDLE

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def signed_request_id(self) -> int | None:
        """The requestId of the SignedUpdateFirmware running now (None: none runs, or a plain one)."""
        return self._request_id if self._busy else None

    @property
    def request_id(self) -> int | None:
        """The requestId of the last signed update, also once it has ended."""
        return self._request_id

    @property
    def signed_status(self) -> FirmwareStatus:
        """What a triggered SignedFirmwareStatusNotification reports: the running update's last status
        (the signed-only ones included), Idle when none runs."""
        return self._status if self._busy else FirmwareStatus.IDLE

    @property
    def cancellable(self) -> bool:
        """Can the running update still be given up (not once its installation started)?"""
        return self._busy and self._status not in _INSTALL_PHASE

    @property
    def restarted_to_install(self) -> bool:
        """This start follows an installation (its outcome is still to be reported): OCPP 2.0.1 names
        FirmwareUpdate as the BootNotification reason then."""
        return self._pending in (FirmwareStatus.INSTALLED, FirmwareStatus.INSTALLATION_FAILED)

    def forget(self) -> None:
        """Drop the record of an update that was cancelled because a newer request replaces it, so that
        a restart neither resumes it nor reports it."""
        self._record_path.unlink(missing_ok=True)

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
        request_id = record.get("request_id")
        self._request_id = request_id if isinstance(request_id, int) else None
        if phase == "scheduled":
            self._scheduled = record
            return None
        target = record.get("target")
        if target is not None and phase in ("installed", "activating"):
            # Through the installer service: installed means we now run the new version (not rolled back).
            self._target = str(target)
            ok = self._running_version == target
            return FirmwareStatus.INSTALLED if ok else FirmwareStatus.INSTALLATION_FAILED
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

        Call it after BootNotification was accepted: for an update through the installer service this is
        also the moment the new release confirms that it is running and connected (else it is rolled back).
        A CALLERROR answer is logged and counts as sent (the CSMS received it; sending it again would get
        the same answer). If the notification fails otherwise (raises), the record stays and the next call
        (or the next start) sends it again. Returns the status sent, or None.
        """
        if self._pending is None:
            return None
        if self._pending is FirmwareStatus.INSTALLED and self._target is not None and self._update_dir:
            _drop(self._update_dir / "incoming", "confirm", self._target.encode())
            log.info("firmware %s confirmed to the installer: running and connected", self._target)
        try:
            await self._notify_status(self._pending, self._request_id)
        except OCPPError as exc:  # a CALLERROR answer: the CSMS has it; it must not end the connection
            log.warning("the CSMS answered firmware status %s with an error: %s", self._pending, exc)
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
        signed = record.get("signed")
        return await self.update(
            str(record["location"]),
            datetime.fromisoformat(record["retrieve_date"]),
            int(record.get("attempts", 1)),
            float(record.get("retry_interval_s", 60.0)),
            signed=None if not isinstance(signed, dict) else SignedRequest(
                int(signed["request_id"]), str(signed["certificate_pem"]), str(signed["signature_b64"]),
                datetime.fromisoformat(signed["install_date"]) if signed.get("install_date") else None),
        )

    def check_signing_certificate(self, certificate_pem: str) -> SignatureProblem | None:
        """Why SignedUpdateFirmware's signingCertificate is unacceptable (`revoked` set when a revocation
        list names it), or None when it chains to a root."""
        try:
            chain = load_chain(certificate_pem.encode())
            verify_chain(chain, load_roots(self._trust_roots), self._clock.now(),
                         load_revocations(self._trust_roots))
        except SignatureProblem as exc:
            return exc
        except ValueError as exc:
            return SignatureProblem(str(exc), certificate=True)
        return None

    async def update(
        self,
        location: str,
        retrieve_date: datetime,
        retries: int = 1,
        retry_interval_s: float = 60.0,
        *,
        signed: SignedRequest | None = None,
    ) -> UpdateOutcome:
        """Run one UpdateFirmware.req (or SignedUpdateFirmware.req with `signed`) to its end.

        `retries` is the number of download attempts (min 1). A naive `retrieve_date` is taken as UTC.
        """
        if retrieve_date.tzinfo is None:
            retrieve_date = retrieve_date.replace(tzinfo=UTC)
        if self._busy:
            raise RuntimeError("a firmware update is already running")
        run = self._run = object()
        self._busy = True
        self._request_id = None if signed is None else signed.request_id
        self._target = None
        try:
            return await self._update(location, retrieve_date, max(1, retries), max(0.0, retry_interval_s),
                                      signed)
        finally:
            if self._run is run:  # not ended by its final status, and no newer update started since
                self._end_run()

    def _end_run(self) -> None:
        self._busy, self._status, self._run = False, FirmwareStatus.IDLE, None

    def _record(self, phase: str, location: str, **extra: Any) -> None:
        data = {"phase": phase, "location": masked(location), "base_version": self._running_version,
                "request_id": self._request_id, **extra}
        write_json_atomically(self._record_path, data)

    async def _update(
        self, location: str, retrieve_date: datetime, attempts: int, retry_interval_s: float,
        signed: SignedRequest | None,
    ) -> UpdateOutcome:
        try:
            check_url(location)
        except TransferError as exc:
            log.error("firmware update refused: %s", exc)
            await self._send(FirmwareStatus.DOWNLOAD_FAILED, final=True)
            return UpdateOutcome.DOWNLOAD_FAILED
        delay = (retrieve_date - self._clock.now()).total_seconds()
        # When cancelled because the service stops the record stays: a restart then resumes a scheduled
        # update, or reports an interrupted one as failed (a newer request that replaces it calls forget()).
        if delay > 0:
            log.info("firmware update from %s scheduled in %.0f s", masked(location), delay)
            schedule = {
                "phase": "scheduled",
                "location": location,  # with credentials: needed to download after a restart
                "retrieve_date": retrieve_date.isoformat(),
                "attempts": attempts,
                "retry_interval_s": retry_interval_s,
                "request_id": self._request_id,
                "signed": None if signed is None else {
                    "request_id": signed.request_id, "certificate_pem": signed.certificate_pem,
                    "signature_b64": signed.signature_b64,
                    "install_date": signed.install_date.isoformat() if signed.install_date else None},
            }
            write_json_atomically(self._record_path, schedule)
            await self._send(FirmwareStatus.DOWNLOAD_SCHEDULED)
            await self._clock.sleep(delay)
        self._record("downloading", location)
        file = await self._download(location, attempts, retry_interval_s)
        if file is None:
            self._record_path.unlink(missing_ok=True)
            await self._send(FirmwareStatus.DOWNLOAD_FAILED, final=True)
            return UpdateOutcome.DOWNLOAD_FAILED
        await self._send(FirmwareStatus.DOWNLOADED)
        try:
            refusal = await asyncio.to_thread(self._verify, file, signed)
            if refusal is not None:
                status, event = refusal
                if event is not None and self._security_event is not None:
                    self._security_event(*event)  # here, in the event loop's thread
                self._record_path.unlink(missing_ok=True)
                await self._send(status, final=True)
                return UpdateOutcome.INSTALLATION_FAILED
            if signed is not None:
                await self._send(FirmwareStatus.SIGNATURE_VERIFIED)
                if signed.install_date is not None and signed.install_date > self._clock.now():
                    await self._send(FirmwareStatus.INSTALL_SCHEDULED)
                    await self._clock.sleep((signed.install_date - self._clock.now()).total_seconds())
            return await self._install(location, file)
        finally:
            _remove(file)

    def _verify(self, file: Path, signed: SignedRequest | None) -> Refusal | None:
        """Check the downloaded file before anything runs (in a worker thread); when it is refused, the
        status to report and the security event to record (type, techInfo), if any.

        The installer service checks again on its own; this check gives the CSMS the right status early.
        """
        now = self._clock.now()
        try:
            roots, revocations = load_roots(self._trust_roots), load_revocations(self._trust_roots)
        except (SignatureProblem, ValueError) as exc:
            log.error("firmware refused: the trust roots cannot be read: %s", exc)
            return FirmwareStatus.INSTALL_VERIFICATION_FAILED, ("InvalidFirmwareSigningCertificate", str(exc))
        if signed is not None:
            try:
                leaf = verify_chain(load_chain(signed.certificate_pem.encode()), roots, now, revocations)
                signature = base64.b64decode(signed.signature_b64, validate=True)
                verify_signature(leaf, signature, file)
            except (SignatureProblem, ValueError) as exc:
                log.error("SignedUpdateFirmware %s: signature refused: %s", signed.request_id, exc)
                return FirmwareStatus.INVALID_SIGNATURE, ("InvalidFirmwareSignature", str(exc))
        try:
            bundle = verify_bundle(file, roots, now, allow_unsigned=self._allow_unsigned,
                                   revocations=revocations)
        except BundleError as exc:
            log.error("firmware refused (not installed): %s", exc)
            event = None
            if exc.problem in (Problem.SIGNATURE, Problem.CERTIFICATE):
                kind = "Signature" if exc.problem is Problem.SIGNATURE else "SigningCertificate"
                event = (f"InvalidFirmware{kind}", str(exc))
            return FirmwareStatus.INSTALL_VERIFICATION_FAILED, event
        if bundle.signer is None:
            log.warning("firmware %s is UNSIGNED; installing it only because allow_unsigned is on",
                        bundle.manifest.version)
        else:
            log.info("firmware %s verified: signed by %s", bundle.manifest.version, bundle.signer)
        return None

    async def _download(self, location: str, attempts: int, retry_interval_s: float) -> Path | None:
        name = Path(unquote(urlsplit(location).path)).name or "firmware.bin"
        # A name of its own: the download thread of a cancelled update may still be writing its file.
        dest = self._dir / f"download-{uuid.uuid4().hex[:12]}-{name}"
        await self._send(FirmwareStatus.DOWNLOADING)
        for attempt in range(1, attempts + 1):
            job = asyncio.ensure_future(asyncio.to_thread(
                download, location, dest, self._download_timeout_s, self._ssl_context))
            try:
                size = await asyncio.shield(job)
            except asyncio.CancelledError:
                job.add_done_callback(lambda _: _remove(dest))  # a thread cannot be stopped: clean up after
                raise
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
        self._record("installing", location)
        await self._send(FirmwareStatus.INSTALLING)
        if self._update_dir is not None:
            failure = await self._hand_to_installer(file)
        else:
            ok = await self._run_installer(location, file)
            failure = None if ok else FirmwareStatus.INSTALLATION_FAILED
        if failure is not None:
            self._record_path.unlink(missing_ok=True)
            self._new_version_path.unlink(missing_ok=True)
            await self._send(failure, final=True)
            return UpdateOutcome.INSTALLATION_FAILED
        self._record("installed", location, target=self._target)
        log.info("firmware installed; a restart activates it and reports Installed")
        return UpdateOutcome.RESTART_REQUIRED

    async def _hand_to_installer(self, file: Path) -> FirmwareStatus | None:
        """Give the verified bundle to the installer service and wait for its answer (None: prepared)."""
        assert self._update_dir is not None
        name = f"{uuid.uuid4().hex}.bundle"
        result_path = self._update_dir / "results" / name.replace(".bundle", ".json")
        try:
            upload = self._update_dir / "upload"
            await asyncio.to_thread(shutil.copyfile, file, upload / name)
            (upload / name).replace(self._update_dir / "incoming" / name)  # the service sees it complete
        except OSError as exc:
            log.error("cannot hand the firmware to the installer service in %s: %s", self._update_dir, exc)
            return FirmwareStatus.INSTALLATION_FAILED
        waited = 0.0
        while (result := read_json(result_path)) is None:
            if waited >= self._install_timeout_s:
                log.error("the installer service did not answer within %.0f s", self._install_timeout_s)
                return FirmwareStatus.INSTALLATION_FAILED
            await self._clock.sleep(INSTALLER_POLL_S)
            waited += INSTALLER_POLL_S
        if result.get("state") == "prepared" and result.get("version"):
            self._target = str(result["version"])
            return None
        log.error("the installer service did not install the firmware: %s", result.get("message"))
        if result.get("state") == "refused":
            return FirmwareStatus.INSTALL_VERIFICATION_FAILED
        return FirmwareStatus.INSTALLATION_FAILED

    async def activate(self) -> None:
        """Switch to the installed firmware; returns when the caller should restart the service itself.

        Call it once no charging session runs. Through the installer service, this asks it to switch and to
        restart us (it then waits up to ACTIVATION_WAIT_S for that before giving up the wait).
        """
        await self._send(FirmwareStatus.INSTALL_REBOOTING)
        record = read_json(self._record_path)
        if self._update_dir is None or record is None or not record.get("target"):
            return
        write_json_atomically(self._record_path, {**record, "phase": "activating"})
        _drop(self._update_dir / "incoming", "activate", str(record["target"]).encode())
        log.warning("firmware %s: asked the installer service to switch and restart us", record["target"])
        await self._clock.sleep(ACTIVATION_WAIT_S)

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

    async def _notify_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        """Send `status` as its request expects it: signed (with requestId) or plain (mapped)."""
        if request_id is not None and self._notify_signed is not None:
            await self._notify_signed(status, request_id)
            return
        plain = _PLAIN.get(status, status)
        if plain is not None:
            await self._notify(plain)

    async def _send(self, status: FirmwareStatus, *, final: bool = False) -> None:
        """Report a status of the running update. A `final` one ends the run before it goes out: a
        request the CSMS sends as soon as it has that status starts afresh (Accepted, not
        AcceptedCanceled: nothing was running any more, L01.FR.24)."""
        self._status = status
        request_id = self._request_id
        if final:
            self._end_run()
        try:
            await self._notify_status(status, request_id)
        except Exception:
            log.exception("firmware status notification %s could not be sent", status)


def _drop(directory: Path, name: str, data: bytes) -> None:
    """Put a small file into the installer's incoming directory in one rename (it reacts to any file)."""
    tmp = directory.parent / "upload" / f"{name}.{uuid.uuid4().hex}"
    tmp.write_bytes(data)
    tmp.replace(directory / name)
