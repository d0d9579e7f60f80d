"""UpdateFirmware (L01, secure firmware update) and FirmwareStatusNotification for 2.0.1, on the common
firmware updater and its jobs (firmware/ocpp/common/firmware_update.py, firmware_jobs.py; the same code runs
1.6 SignedUpdateFirmware). Facts: docs/reference/ocpp201.md §15.2.

- The answer: Rejected when firmware updates are off (`[ocpp.firmware]`) or an update is installing;
  InvalidCertificate / RevokedCertificate (and the security event InvalidFirmwareSigningCertificate) when
  `signingCertificate` is absent or does not chain to a manufacturer root (L01.FR.02/11/21/22);
  AcceptedCanceled when it replaces a running update (L01.FR.24); else Accepted.
- Then, each with the request's requestId (L01.FR.01/20): DownloadScheduled (until retrieveDateTime),
  Downloading, Downloaded or DownloadFailed (after 1 + `retries` attempts, `retryInterval` s apart),
  SignatureVerified or InvalidSignature (the signature over the whole file with the signing certificate's
  key, L01.FR.03/04; an absent signature is an invalid one, TC_L_18; security event InvalidFirmwareSignature),
  InstallScheduled (until installDateTime), Installing, InstallRebooting, and after the restart Installed or
  InstallationFailed / InstallVerificationFailed; then the security event FirmwareUpdated.
- The restart that activates the firmware waits until no transaction runs (L01.FR.06); the next
  BootNotification names FirmwareUpdate as its reason and the installed version.
- A status that cannot be sent (link down) is kept, the newest one only, and sent once registered again
  (`firmware/ocpp/common/latest_status.py`).
- TriggerMessage FirmwareStatusNotification: the running update's last status with its requestId (also
  Installing or InstallRebooting while installed firmware waits for the restart, L01.FR.26), Idle when
  none runs, without requestId (F06.FR.16, L01.FR.20/25).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call, call_result

from firmware.ocpp.common.firmware_jobs import FirmwareJobs, Sessions, UpdateAnswer, make_updater
from firmware.ocpp.common.firmware_update import FirmwareStatus, SignedRequest
from firmware.ocpp.common.latest_status import LatestStatus
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.v201.charge_point import after, on
from firmware.ocpp.v201.trigger import EvseRef, Trigger
from firmware.security.events import SecurityLog
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.settings import OcppSettings
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

DEFAULT_RETRY_INTERVAL_S = 60.0  # retryInterval absent: chargepi's choice
EXIT_RESTART = 75  # = firmware.app.EXIT_RESTART: systemd (Restart=always) brings the service back


def exit_to_restart(hard: bool) -> None:
    """The restart without an application restart hook: leave, and let systemd start us again."""
    raise SystemExit(EXIT_RESTART)


class Firmware201:
    def __init__(self, settings: OcppSettings, clock: Clock, state_dir: Path, sessions: Sessions,
                 security_log: SecurityLog, restart_now: Callable[[], None],
                 connection: Callable[[], ChargePoint201 | None], online: Callable[[], bool],
                 running_version: str, allow_new_sessions: Callable[[], bool]) -> None:
        self._clock = clock
        self._connection = connection
        self._online = online
        self._running_version = running_version
        self._tasks = OwnedTasks(log)
        self._accepted: set[str] = set()  # CALL ids answered Accepted(Canceled), started after the answer
        self.jobs: FirmwareJobs | None = None
        self._status = LatestStatus("FirmwareStatusNotification", self._send_status)
        if settings.firmware.enabled:
            updater = make_updater(settings.firmware, clock, state_dir, self._notify_plain, self._notify,
                                   security_log, running_version)
            self.jobs = FirmwareJobs(updater, clock, sessions, security_log, self._tasks.spawn, restart_now,
                                     allow_new_sessions)

    @property
    def version(self) -> str:
        """BootNotification's firmwareVersion: the installed firmware's."""
        return self._running_version if self.jobs is None else self.jobs.updater.firmware_version

    @property
    def restarted_to_install(self) -> bool:
        """This start activates installed firmware: the BootNotification reason is FirmwareUpdate."""
        return self.jobs is not None and self.jobs.updater.restarted_to_install

    def stop(self) -> None:
        self._tasks.cancel_all()

    async def online(self, cp: ChargePoint201) -> None:
        if self.jobs is not None:
            await self.jobs.after_boot()
        await self._status.resend()  # the newest status an outage kept from the CSMS

    async def _notify(self, status: str, request_id: int | None) -> None:
        await self._status.notify(status, request_id)

    async def _send_status(self, status: str, request_id: int | None) -> None:
        cp = self._connection()
        if cp is None or not self._online():
            raise ConnectionError("not registered with the CSMS")
        await cp.call(call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False)

    async def _notify_plain(self, status: str) -> None:
        """An update without a requestId (none is made in 2.0.1, but an older record may name none)."""
        await self._notify(status, None)

    # --- UpdateFirmware ------------------------------------------------------------------------------
    @on("UpdateFirmware")
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], call_unique_id: str,
                                 **kwargs: Any) -> Any:
        if self.jobs is None:
            return call_result.UpdateFirmware(status=UpdateAnswer.REJECTED)
        answer = await self.jobs.answer_signed(request_id, str(firmware.get("signing_certificate") or ""))
        if answer in (UpdateAnswer.ACCEPTED, UpdateAnswer.ACCEPTED_CANCELED):
            self._accepted.add(call_unique_id)
        return call_result.UpdateFirmware(status=str(answer))

    @after("UpdateFirmware")
    async def after_update_firmware(self, request_id: int, firmware: dict[str, Any], call_unique_id: str,
                                    retries: int | None = None, retry_interval: int | None = None,
                                    **kwargs: Any) -> None:
        if self.jobs is None or call_unique_id not in self._accepted:
            return
        self._accepted.discard(call_unique_id)
        when: datetime = parse_ocpp_time(firmware.get("retrieve_date_time")) or self._clock.now()
        signed = SignedRequest(request_id, str(firmware.get("signing_certificate") or ""),
                               str(firmware.get("signature") or ""),
                               parse_ocpp_time(firmware.get("install_date_time")))
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        self.jobs.start_signed(str(firmware["location"]), when, 1 + max(0, retries or 0), interval, signed)

    # --- TriggerMessage (F06) ------------------------------------------------------------------------
    def triggers(self) -> dict[str, Trigger]:
        async def status(cp: ChargePoint201, evse: EvseRef | None) -> None:
            jobs = self.jobs
            if jobs is not None and jobs.activating:  # installed: Installing, then InstallRebooting was last
                await self._notify(jobs.activation_status, jobs.updater.request_id)
            elif jobs is None or jobs.updater.signed_request_id is None:
                await self._notify(FirmwareStatus.IDLE, None)  # F06.FR.16, L01.FR.20
            else:
                await self._notify(jobs.updater.signed_status, jobs.updater.signed_request_id)

        return {"FirmwareStatusNotification": Trigger(status)}
