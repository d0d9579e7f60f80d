"""GetLog as a CSMS drives it, for every OCPP version (1.6 security whitepaper GetLog, 2.0.1 N01): the
diagnostics archive or the security log, built for the asked time window, uploaded by the diagnostics
uploader (firmware/ocpp/common/diagnostics.py) with its log-status notifications carrying the requestId.

- The answer: Rejected for a location no transfer can use (scheme, host, port); AcceptedCanceled when it
  replaces an upload that runs or has not started yet (one upload at a time, the newest request wins,
  N01.FR.12); else Accepted. It names the file to be uploaded.
- The upload starts only once the answer went out: Uploading, then Uploaded, or after every attempt
  failed UploadFailure, PermissionDenied (the server refused access), NotSupportedOperation (the server
  does not do it) or BadMessage (a malformed reply), by the last attempt's failure. A cancelled upload
  reports nothing more.
- DiagnosticsLog: the diagnostics archive (state, logs, journals, credentials masked); SecurityLog: the
  security log's entries in the window, as gzip text.
- `current()` is what a triggered LogStatusNotification reports: Uploading with the requestId while an
  upload runs, else Idle without one.

The status values are the same in both versions (UploadLogStatusEnumType).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.ocpp.common.diagnostics import DiagnosticsStatus, DiagnosticsUploader, StatusProvider
from firmware.ocpp.common.transfer import Failure, TransferError, check_url
from firmware.security.events import SecurityLog
from hal.clock import Clock

if TYPE_CHECKING:
    import asyncio
    import logging

    from firmware.ocpp.settings import OcppSettings

NotifyLog = Callable[[str, int | None], Awaitable[None]]  # LogStatusNotification(status, requestId)
Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[Any]"]


class LogAnswer(StrEnum):
    """LogStatusEnumType (GetLogResponse.status), the same in 1.6 and 2.0.1."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"


SECURITY_LOG = "SecurityLog"  # LogEnumType; the other is DiagnosticsLog
LOG_STATUS: Mapping[DiagnosticsStatus, str] = {
    DiagnosticsStatus.IDLE: "Idle", DiagnosticsStatus.UPLOADING: "Uploading",
    DiagnosticsStatus.UPLOADED: "Uploaded", DiagnosticsStatus.UPLOAD_FAILED: "UploadFailure"}
FAILED: Mapping[Failure, str] = {
    Failure.OTHER: "UploadFailure", Failure.PERMISSION_DENIED: "PermissionDenied",
    Failure.NOT_SUPPORTED: "NotSupportedOperation", Failure.BAD_MESSAGE: "BadMessage"}


def make_uploader(settings: OcppSettings, clock: Clock, state_dir: Path, status_provider: StatusProvider,
                  notify: Callable[[str], Awaitable[None]],
                  trust_anchors: Callable[[], str] = str) -> DiagnosticsUploader:
    """A diagnostics uploader per `[ocpp.diagnostics]` that reports its progress to `notify`; an https://
    upload trusts the system's roots and `trust_anchors()` (PEM: the CSMS's, OCPP 2.0.1 N01.FR.15)."""
    diagnostics = settings.diagnostics
    return DiagnosticsUploader(
        clock, state_dir, diagnostics.log_paths, status_provider, notify, station_id=settings.charge_point_id,
        http_method=diagnostics.upload_method, upload_timeout_s=diagnostics.upload_timeout_s,
        journal_units=diagnostics.journal_units, tls=lambda: upload_context(trust_anchors()))


def upload_context(anchors: str) -> ssl.SSLContext | None:
    """The system's trust store plus the PEM `anchors` (None: the system's alone)."""
    if not anchors:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=anchors)
    return context


class LogUploads:
    def __init__(self, make: Callable[[Callable[[str], Awaitable[None]]], DiagnosticsUploader],
                 security_log: SecurityLog, station_id: str, clock: Clock, notify: NotifyLog,
                 spawn: Spawn, logger: logging.Logger) -> None:
        self.uploader = make(self._uploader_status)
        self._security_log = security_log
        self._station_id = station_id
        self._clock = clock
        self._notify = notify
        self._spawn = spawn
        self._log = logger
        self._request: int | None = None  # the requestId of the upload that runs
        self._pending: tuple[str, Path, int] | None = None  # (CALL id, file, requestId) answered, not started

    async def _uploader_status(self, status: str) -> None:
        state = DiagnosticsStatus(status)
        text = LOG_STATUS[state]
        if state is DiagnosticsStatus.UPLOAD_FAILED and self.uploader.last_failure is not None:
            text = FAILED[self.uploader.last_failure]
        await self._notify(text, self._request)

    def current(self) -> tuple[str, int | None]:
        """(status, requestId) of a triggered LogStatusNotification: Uploading while an upload runs."""
        status = self.uploader.status
        return LOG_STATUS[status], None if status is DiagnosticsStatus.IDLE else self._request

    async def request(self, call_id: str, log_type: str, request_id: int, location: str,
                      oldest: datetime | None, latest: datetime | None) -> tuple[LogAnswer, str | None]:
        """The answer to a GetLog and the file it will upload; the upload starts with `start(call_id)`."""
        try:
            check_url(location)
        except TransferError as exc:
            self._log.warning("GetLog refused: %s", exc)
            return LogAnswer.REJECTED, None
        # Only an upload still under way is cancelled; one reporting its outcome has ended.
        uploading = self.uploader.status is DiagnosticsStatus.UPLOADING
        canceled = (await self.uploader.stop() and uploading) or self._pending is not None
        if log_type == SECURITY_LOG:
            stamp = self._clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = f"securitylog-{self._station_id}-{stamp}.log.gz"
            archive = self._security_log.export(self.uploader.directory / name, oldest, latest)
            self.uploader.prune("securitylog-*.log.gz")
        else:
            archive = await self.uploader.collect(oldest, latest)
        self._pending = (call_id, archive, request_id)
        return (LogAnswer.ACCEPTED_CANCELED if canceled else LogAnswer.ACCEPTED), archive.name

    async def start(self, call_id: str, location: str, attempts: int, retry_interval_s: float) -> None:
        """Upload what the answered request `call_id` named (unless a newer request replaced it)."""
        pending = self._pending
        if pending is None or pending[0] != call_id:
            return  # refused, or already replaced by a newer request
        self._pending = None
        _, archive, request_id = pending
        await self.uploader.stop()  # before the requestId changes: a cancelled upload reports nothing more
        self._request = request_id
        await self.uploader.start(archive, location, attempts, retry_interval_s, self._spawn)
