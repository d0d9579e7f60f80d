"""The secure firmware update as a CSMS drives it, for every OCPP version (1.6 SignedUpdateFirmware, 2.0.1
UpdateFirmware L01): which answer a request gets, the update run after the answer went out, the restart
that activates installed firmware once no session runs, and what is reported after that restart.

- A request whose signing certificate does not chain to a manufacturer root (`[ocpp.firmware]
  trust_roots`) is refused before anything is downloaded: InvalidCertificate, or RevokedCertificate when a
  revocation list names it, and the security event InvalidFirmwareSigningCertificate (L01.FR.02/21/22).
- A new request replaces one that has not started installing (AcceptedCanceled, L01.FR.24); one that
  installs, or is installed and waits for its restart, is not interrupted (Rejected, L01.FR.27).
- Installed firmware is activated by restarting the service once no charging session runs (L01.FR.06):
  a session is never cut short. Meanwhile no new session starts (idle connectors are Unavailable, the
  others after their session) unless the version allows them (2.0.1
  ChargingStation.AllowNewSessionsPendingFirmwareUpdate, L01.FR.07; 1.6 has no such rule and allows
  them).
- After the restart, the final status (Installed / InstallationFailed) goes out once the CSMS accepted the
  station, then the security event FirmwareUpdated; an update that was waiting for its retrieve time
  carries on.

The versions render the answers and statuses in their messages (the values are the same in both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from firmware.ocpp.common.firmware_update import (
    FirmwareStatus,
    FirmwareUpdater,
    Notify,
    NotifySigned,
    SignedRequest,
    UpdateOutcome,
)
from firmware.security.events import SecurityEventType, SecurityLog
from hal.clock import Clock

if TYPE_CHECKING:
    from datetime import datetime

    from firmware.ocpp.settings import FirmwareSettings

log = logging.getLogger(__name__)

HOLD_REASON = "firmware update"
SESSION_POLL_S = 30.0  # how often a pending firmware restart checks whether the sessions have ended
Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[Any]"]


class Sessions(Protocol):
    """What the restart waits on: the station's connectors and their sessions (StationApi has them)."""

    @property
    def connector_ids(self) -> Sequence[int]: ...

    def session_of(self, connector_id: int) -> object | None: ...

    def hold_new_sessions(self, reason: str, held: bool) -> None: ...


class UpdateAnswer(StrEnum):
    """UpdateFirmwareStatus (1.6 security whitepaper, SignedUpdateFirmware) = UpdateFirmwareStatusEnumType
    (2.0.1)."""

    ACCEPTED = "Accepted"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    REJECTED = "Rejected"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


def make_updater(firmware: FirmwareSettings, clock: Clock, state_dir: Path, notify: Notify,
                 notify_signed: NotifySigned, security_log: SecurityLog,
                 running_version: str) -> FirmwareUpdater:
    """The firmware updater `[ocpp.firmware]` describes."""
    ctx = None if firmware.ca_file is None else ssl.create_default_context(cafile=str(firmware.ca_file))
    return FirmwareUpdater(
        clock, state_dir, firmware.install_command, notify, trust_roots=firmware.trust_roots,
        allow_unsigned=firmware.allow_unsigned, update_dir=firmware.update_dir, notify_signed=notify_signed,
        security_event=security_log.record, running_version=running_version,
        download_timeout_s=firmware.download_timeout_s, install_timeout_s=firmware.install_timeout_s,
        ssl_context=ctx)


class FirmwareJobs:
    """One update at a time, on `updater`, as the CSMS asks for it."""

    def __init__(self, updater: FirmwareUpdater, clock: Clock, sessions: Sessions,
                 security_log: SecurityLog, spawn: Spawn, restart_now: Callable[[], None],
                 allow_new_sessions: Callable[[], bool] = lambda: True) -> None:
        self.updater = updater
        self._allow_new_sessions = allow_new_sessions
        self._clock = clock
        self._sessions = sessions
        self._security_log = security_log
        self._spawn = spawn
        self._restart_now = restart_now
        self._task: asyncio.Task[None] | None = None
        self.activating = False  # installed, waiting for the sessions to end and the restart
        self.activation_status = FirmwareStatus.INSTALLING  # the last status sent while activating

    def run(self, running: Awaitable[UpdateOutcome | None], name: str) -> None:
        """Run an update (the updater's `update(...)`) to its end, then activate what it installed."""
        self._task = self._spawn(self._update(running), name)

    async def answer_signed(self, request_id: int, certificate_pem: str) -> UpdateAnswer:
        """The answer to a signed request; a running update it replaces is cancelled."""
        updater = self.updater
        if self.activating or (updater.busy and not updater.cancellable):
            return UpdateAnswer.REJECTED
        problem = updater.check_signing_certificate(certificate_pem)
        if problem is not None:
            log.warning("signed firmware update %s refused: %s", request_id, problem)
            self._security_log.record(SecurityEventType.INVALID_FIRMWARE_SIGNING_CERTIFICATE, str(problem))
            return UpdateAnswer.REVOKED_CERTIFICATE if problem.revoked else UpdateAnswer.INVALID_CERTIFICATE
        canceled = updater.busy
        if canceled:
            await self.cancel(f"replaced by request {request_id}")
        return UpdateAnswer.ACCEPTED_CANCELED if canceled else UpdateAnswer.ACCEPTED

    def start_signed(self, location: str, retrieve: datetime, attempts: int, retry_interval_s: float,
                     signed: SignedRequest) -> None:
        self.run(self.updater.update(location, retrieve, attempts, retry_interval_s, signed=signed),
                 "ocpp-signed-firmware-update")

    async def cancel(self, reason: str) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.updater.forget()
        log.warning("firmware update cancelled: %s", reason)

    async def after_boot(self) -> None:
        """Once the CSMS accepted the station: the final status of an update a restart ended, then
        FirmwareUpdated; an update that was waiting for its retrieve time carries on."""
        updater = self.updater
        if await updater.report_after_restart() == FirmwareStatus.INSTALLED:
            self._security_log.record(SecurityEventType.FIRMWARE_UPDATED,
                                      f"now running {updater.firmware_version}")
        if updater.scheduled is not None:
            self.run(updater.resume_scheduled(), "ocpp-firmware-update")

    async def _update(self, running: Awaitable[UpdateOutcome | None]) -> None:
        outcome = await running
        if outcome != UpdateOutcome.RESTART_REQUIRED:
            return
        self.activating, self.activation_status = True, FirmwareStatus.INSTALLING
        sessions = self._sessions
        held = False
        try:
            while any(sessions.session_of(c) is not None for c in sessions.connector_ids):
                if not held and not self._allow_new_sessions():
                    sessions.hold_new_sessions(HOLD_REASON, True)  # L01.FR.07; the restart lifts it
                    held = True
                await self._clock.sleep(SESSION_POLL_S)  # never cut a charging session short (L01.FR.06)
        except BaseException:
            if held:
                sessions.hold_new_sessions(HOLD_REASON, False)
            raise
        self.activation_status = FirmwareStatus.INSTALL_REBOOTING
        await self.updater.activate()
        log.warning("firmware installed: restarting to activate it")
        self._restart_now()
