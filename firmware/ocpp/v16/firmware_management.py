"""OCPP 1.6 Firmware Management profile: UpdateFirmware and GetDiagnostics, wired to the firmware updater
and the diagnostics uploader (`firmware/ocpp/common/firmware_update.py`, `diagnostics.py`) through the
runtime's extension points (firmware/ocpp/v16/extensions.py).

The handlers answer at once; the work runs afterwards in tasks the runtime owns (cancelled on stop). After a
successful installation the service restarts (like Reset) once no session is running, and the final status
(Installed / InstallationFailed) is reported after the next accepted BootNotification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call, call_result
from ocpp.v16.enums import UpdateFirmwareStatus

from firmware.ocpp.common.diagnostics import DiagnosticsUploader
from firmware.ocpp.common.firmware_update import FirmwareStatus, FirmwareUpdater, SignedRequest, UpdateOutcome
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.common.transfer import TransferError, check_url
from firmware.ocpp.v16.services import Services16
from firmware.security.events import SecurityEventType

log = logging.getLogger(__name__)

DEFAULT_RETRY_INTERVAL_S = 60.0
SESSION_POLL_S = 30.0  # how often a pending firmware restart checks whether the sessions have ended



class FirmwareManagement:
    def __init__(self, services: Services16, state_dir: Path, running_version: str,
                 restart_now: Callable[[], None]) -> None:
        self._services = services
        self._clock = services.clock
        self._restart_now = restart_now
        settings = services.settings
        extensions = services.extensions
        self.updater: FirmwareUpdater | None = None
        firmware = settings.firmware
        if firmware.enabled:
            ctx = None
            if firmware.ca_file is not None:
                ctx = ssl.create_default_context(cafile=str(firmware.ca_file))
            self.updater = FirmwareUpdater(
                services.clock, state_dir, firmware.install_command, self.notify_firmware_status,
                trust_roots=firmware.trust_roots, allow_unsigned=firmware.allow_unsigned,
                update_dir=firmware.update_dir, notify_signed=self.notify_signed_firmware_status,
                security_event=services.security_log.record,
                running_version=running_version,
                download_timeout_s=firmware.download_timeout_s,
                install_timeout_s=firmware.install_timeout_s, ssl_context=ctx)
            updater = self.updater
            extensions.register_handler("UpdateFirmware", self.on_update_firmware, self.after_update_firmware)
            extensions.register_handler("SignedUpdateFirmware", self.on_signed_update_firmware,
                                        self.after_signed_update_firmware)
            extensions.firmware_version = lambda: updater.firmware_version
            extensions.after_registration.append(self._after_boot)
        # TriggerMessage asks for FirmwareStatusNotification, ExtendedTriggerMessage for the signed one.
        senders = extensions.trigger_senders
        senders["FirmwareStatusNotification"] = lambda _: self.send_status(extended=False)
        senders["SignedFirmwareStatusNotification"] = lambda _: self.send_status(extended=True)
        self._update_task: asyncio.Task[None] | None = None
        self._activating = False  # installed, waiting for the sessions to end and the restart
        self._state_dir = state_dir
        self.uploader = self.make_uploader(self.notify_diagnostics_status)
        extensions.register_handler("GetDiagnostics", self.on_get_diagnostics, self.after_get_diagnostics)
        extensions.diagnostics_status = lambda: str(self.uploader.status)
        self._diagnostics: tuple[str, Path] | None = None  # (CALL id, archive) answered, not started yet
        self._accepted_signed: set[str] = set()

    def make_uploader(self, notify: Callable[[str], Awaitable[None]]) -> DiagnosticsUploader:
        """A diagnostics uploader per `[ocpp.diagnostics]` that reports its progress to `notify`."""
        settings = self._services.settings
        diagnostics = settings.diagnostics
        return DiagnosticsUploader(
            self._clock, self._state_dir, diagnostics.log_paths, self._services.station.snapshot,
            notify, station_id=settings.charge_point_id, http_method=diagnostics.upload_method,
            upload_timeout_s=diagnostics.upload_timeout_s, journal_units=diagnostics.journal_units)

    async def notify_firmware_status(self, status: str) -> None:
        """FirmwareStatusNotification now; ConnectionError when not registered with the CSMS."""
        await self._services.calls.call_online(call.FirmwareStatusNotification(status=status))

    async def notify_signed_firmware_status(self, status: str, request_id: int) -> None:
        """SignedFirmwareStatusNotification (security whitepaper); ConnectionError when not registered."""
        await self._services.calls.call_online(
            call.SignedFirmwareStatusNotification(status=status, request_id=request_id))

    async def notify_diagnostics_status(self, status: str) -> None:
        await self._services.calls.call_online(call.DiagnosticsStatusNotification(status=status))

    async def send_status(self, *, extended: bool) -> None:
        """A triggered firmware status. An update that runs is reported in its own message: a
        SignedUpdateFirmware with SignedFirmwareStatusNotification and its requestId, an UpdateFirmware
        with FirmwareStatusNotification. With none running, Idle in the message the trigger belongs to
        (ExtendedTriggerMessage: SignedFirmwareStatusNotification without requestId; facts in
        docs/reference/ocpp16-security.md)."""
        updater = self.updater
        request_id = None if updater is None else updater.signed_request_id
        if request_id is not None or (extended and (updater is None or not updater.busy)):
            status = FirmwareStatus.IDLE if updater is None else updater.signed_status
            await self._services.calls.call_online(call.SignedFirmwareStatusNotification(
                status=str(status), request_id=request_id))
        else:
            status = FirmwareStatus.IDLE if updater is None else updater.status
            await self._services.calls.call_online(call.FirmwareStatusNotification(status=str(status)))

    def _run(self, running: Awaitable[Any], name: str) -> None:
        self._update_task = self._services.spawn(self._update(running), name)

    # ---- UpdateFirmware ------------------------------------------------------------------------------
    def on_update_firmware(self, location: str, retrieve_date: str, **kwargs: Any) -> Any:
        return call_result.UpdateFirmware()

    async def after_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                                    retry_interval: int | None = None, **kwargs: Any) -> None:
        updater = self.updater
        if updater is None:
            return
        if updater.busy:
            log.warning("UpdateFirmware ignored: an update is already running")
            return
        when = parse_ocpp_time(retrieve_date) or self._clock.now()
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        self._run(updater.update(location, when, retries or 1, interval), "ocpp-firmware-update")

    # ---- SignedUpdateFirmware (OCPP 1.6 security whitepaper) -----------------------------------------------
    async def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                        call_unique_id: str, **kwargs: Any) -> Any:
        """A new request replaces one that has not started installing yet (AcceptedCanceled, whitepaper
        use case "Secure Firmware Update"); one that is installing, or installed and waiting for its
        restart, is not interrupted (Rejected)."""
        updater = self.updater
        if updater is None or self._activating or (updater.busy and not updater.cancellable):
            return call_result.SignedUpdateFirmware(status=UpdateFirmwareStatus.rejected)
        problem = updater.check_signing_certificate(str(firmware.get("signing_certificate", "")))
        if problem is not None:
            log.warning("SignedUpdateFirmware %s refused: %s", request_id, problem)
            self._services.security_log.record(SecurityEventType.INVALID_FIRMWARE_SIGNING_CERTIFICATE,
                                               str(problem))
            return call_result.SignedUpdateFirmware(status=UpdateFirmwareStatus.revoked_certificate
                                                    if problem.revoked else
                                                    UpdateFirmwareStatus.invalid_certificate)
        canceled = updater.busy
        if canceled:
            await self._cancel_running(f"replaced by SignedUpdateFirmware {request_id}")
        self._accepted_signed.add(call_unique_id)
        return call_result.SignedUpdateFirmware(
            status=UpdateFirmwareStatus.accepted_canceled if canceled else UpdateFirmwareStatus.accepted)

    async def _cancel_running(self, reason: str) -> None:
        task, self._update_task = self._update_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert self.updater is not None
        self.updater.forget()
        log.warning("firmware update cancelled: %s", reason)

    async def after_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                           call_unique_id: str, retries: int | None = None,
                                           retry_interval: int | None = None, **kwargs: Any) -> None:
        updater = self.updater
        if updater is None or call_unique_id not in self._accepted_signed:
            return
        self._accepted_signed.discard(call_unique_id)
        now = self._clock.now()
        when = parse_ocpp_time(firmware.get("retrieve_date_time")) or now
        signed = SignedRequest(request_id, str(firmware["signing_certificate"]), str(firmware["signature"]),
                               parse_ocpp_time(firmware.get("install_date_time")))
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        running = updater.update(str(firmware["location"]), when, retries or 1, interval, signed=signed)
        self._run(running, "ocpp-signed-firmware-update")

    async def _after_boot(self) -> None:
        updater = self.updater
        if updater is None:
            return
        if await updater.report_after_restart() == FirmwareStatus.INSTALLED:
            self._services.security_log.record(SecurityEventType.FIRMWARE_UPDATED,
                                               f"now running {updater.firmware_version}")
        if updater.scheduled is not None:
            self._run(updater.resume_scheduled(), "ocpp-firmware-update")

    async def _update(self, running: Any) -> None:
        outcome = await running
        if outcome != UpdateOutcome.RESTART_REQUIRED:
            return
        self._activating = True
        station = self._services.station
        while any(station.session_of(c) is not None for c in station.connector_ids):
            await self._clock.sleep(SESSION_POLL_S)  # never cut a charging session short
        updater = self.updater
        if updater is not None:
            await updater.activate()
        log.warning("firmware installed: restarting to activate it")
        self._restart_now()

    # ---- GetDiagnostics ------------------------------------------------------------------------------
    async def on_get_diagnostics(self, location: str, call_unique_id: str, start_time: str | None = None,
                                 stop_time: str | None = None, **kwargs: Any) -> Any:
        try:
            check_url(location)
        except TransferError as exc:
            log.warning("GetDiagnostics refused: %s", exc)
            return call_result.GetDiagnostics()
        archive = await self.uploader.collect(parse_ocpp_time(start_time), parse_ocpp_time(stop_time))
        self._diagnostics = (call_unique_id, archive)  # the newest request wins
        return call_result.GetDiagnostics(file_name=archive.name)

    async def after_get_diagnostics(self, location: str, call_unique_id: str, retries: int | None = None,
                                    retry_interval: int | None = None, **kwargs: Any) -> None:
        pending = self._diagnostics
        if pending is None or pending[0] != call_unique_id:
            return  # refused, or already replaced by a newer request
        self._diagnostics = None
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        # Upload only after GetDiagnostics.conf went out, so Uploading never precedes the answer; one
        # upload at a time: a running one is cancelled (OCPP 1.6 has no status to say so).
        await self.uploader.start(pending[1], location, retries or 1, interval, self._services.spawn)
