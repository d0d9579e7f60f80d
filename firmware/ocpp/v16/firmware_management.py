"""OCPP 1.6 Firmware Management profile: UpdateFirmware and GetDiagnostics, wired to the firmware updater
and the diagnostics uploader (`firmware/ocpp/common/firmware_update.py`, `diagnostics.py`) through the
runtime's extension points (firmware/ocpp/v16/extensions.py).

The handlers answer at once; the work runs afterwards in tasks the runtime owns (cancelled on stop). After a
successful installation the service restarts (like Reset) once no session is running, and the final status
(Installed / InstallationFailed) is reported after the next accepted BootNotification.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call, call_result
from ocpp.v16.enums import UpdateFirmwareStatus

from firmware.ocpp.common.diagnostics import DiagnosticsUploader
from firmware.ocpp.common.firmware_jobs import FirmwareJobs, UpdateAnswer, make_updater
from firmware.ocpp.common.firmware_update import FirmwareStatus, FirmwareUpdater, SignedRequest
from firmware.ocpp.common.latest_status import LatestStatus
from firmware.ocpp.common.log_upload import make_uploader
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.common.transfer import TransferError, check_url
from firmware.ocpp.v16.services import Services16

log = logging.getLogger(__name__)

DEFAULT_RETRY_INTERVAL_S = 60.0



class FirmwareManagement:
    def __init__(self, services: Services16, state_dir: Path, running_version: str,
                 restart_now: Callable[[], None]) -> None:
        self._services = services
        self._clock = services.clock
        settings = services.settings
        extensions = services.extensions
        # The newest status an outage kept from the CSMS goes out on the next connection.
        self._firmware_status = LatestStatus("FirmwareStatusNotification", self._send_firmware_status)
        self._diagnostics_status = LatestStatus("DiagnosticsStatusNotification",
                                                lambda status, _: self._send_diagnostics_status(status))
        extensions.each_connection += [self._firmware_status.resend, self._diagnostics_status.resend]
        self.updater: FirmwareUpdater | None = None
        self.jobs: FirmwareJobs | None = None
        firmware = settings.firmware
        if firmware.enabled:
            self.updater = make_updater(firmware, services.clock, state_dir, self.notify_firmware_status,
                                        self.notify_signed_firmware_status, services.security_log,
                                        running_version)
            updater = self.updater
            self.jobs = FirmwareJobs(updater, services.clock, services.station, services.security_log,
                                     services.spawn, restart_now)
            extensions.register_handler("UpdateFirmware", self.on_update_firmware, self.after_update_firmware)
            extensions.register_handler("SignedUpdateFirmware", self.on_signed_update_firmware,
                                        self.after_signed_update_firmware)
            extensions.firmware_version = lambda: updater.firmware_version
            extensions.after_registration.append(self.jobs.after_boot)
        # TriggerMessage asks for FirmwareStatusNotification, ExtendedTriggerMessage for the signed one.
        senders = extensions.trigger_senders
        senders["FirmwareStatusNotification"] = lambda _: self.send_status(extended=False)
        senders["SignedFirmwareStatusNotification"] = lambda _: self.send_status(extended=True)
        self._state_dir = state_dir
        self.uploader = self.make_uploader(self.notify_diagnostics_status)
        extensions.register_handler("GetDiagnostics", self.on_get_diagnostics, self.after_get_diagnostics)
        extensions.diagnostics_status = lambda: str(self.uploader.status)
        self._diagnostics: tuple[str, Path] | None = None  # (CALL id, archive) answered, not started yet
        self._accepted_signed: set[str] = set()

    def make_uploader(self, notify: Callable[[str], Awaitable[None]]) -> DiagnosticsUploader:
        """A diagnostics uploader per `[ocpp.diagnostics]` that reports its progress to `notify`."""
        return make_uploader(self._services.settings, self._clock, self._state_dir,
                             self._services.station.snapshot, notify)

    async def notify_firmware_status(self, status: str) -> None:
        """FirmwareStatusNotification now; ConnectionError when not registered with the CSMS (then it is
        kept for the next connection)."""
        await self._firmware_status.notify(status, None)

    async def notify_signed_firmware_status(self, status: str, request_id: int) -> None:
        """SignedFirmwareStatusNotification (security whitepaper); ConnectionError when not registered."""
        await self._firmware_status.notify(status, request_id)

    async def _send_firmware_status(self, status: str, request_id: int | None) -> None:
        if request_id is None:
            await self._services.calls.call_online(call.FirmwareStatusNotification(status=status))
        else:
            await self._services.calls.call_online(
                call.SignedFirmwareStatusNotification(status=status, request_id=request_id))

    async def notify_diagnostics_status(self, status: str) -> None:
        await self._diagnostics_status.notify(status, None)

    async def _send_diagnostics_status(self, status: str) -> None:
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

    # ---- UpdateFirmware ------------------------------------------------------------------------------
    def on_update_firmware(self, location: str, retrieve_date: str, **kwargs: Any) -> Any:
        return call_result.UpdateFirmware()

    async def after_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                                    retry_interval: int | None = None, **kwargs: Any) -> None:
        updater, jobs = self.updater, self.jobs
        if updater is None or jobs is None:
            return
        if updater.busy:
            log.warning("UpdateFirmware ignored: an update is already running")
            return
        when = parse_ocpp_time(retrieve_date) or self._clock.now()
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        jobs.run(updater.update(location, when, retries or 1, interval), "ocpp-firmware-update")

    # ---- SignedUpdateFirmware (OCPP 1.6 security whitepaper) -----------------------------------------------
    async def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                        call_unique_id: str, **kwargs: Any) -> Any:
        """A new request replaces one that has not started installing yet (AcceptedCanceled, whitepaper
        use case "Secure Firmware Update"); one that is installing, or installed and waiting for its
        restart, is not interrupted (Rejected); firmware/ocpp/common/firmware_jobs.py."""
        if self.jobs is None:
            return call_result.SignedUpdateFirmware(status=UpdateFirmwareStatus.rejected)
        answer = await self.jobs.answer_signed(request_id, str(firmware.get("signing_certificate", "")))
        if answer in (UpdateAnswer.ACCEPTED, UpdateAnswer.ACCEPTED_CANCELED):
            self._accepted_signed.add(call_unique_id)
        return call_result.SignedUpdateFirmware(status=str(answer))

    async def after_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                           call_unique_id: str, retries: int | None = None,
                                           retry_interval: int | None = None, **kwargs: Any) -> None:
        if self.jobs is None or call_unique_id not in self._accepted_signed:
            return
        self._accepted_signed.discard(call_unique_id)
        now = self._clock.now()
        when = parse_ocpp_time(firmware.get("retrieve_date_time")) or now
        signed = SignedRequest(request_id, str(firmware["signing_certificate"]), str(firmware["signature"]),
                               parse_ocpp_time(firmware.get("install_date_time")))
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        self.jobs.start_signed(str(firmware["location"]), when, retries or 1, interval, signed)

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
