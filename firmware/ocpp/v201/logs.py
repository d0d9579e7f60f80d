"""GetLog (N01) and LogStatusNotification for 2.0.1, on the GetLog handling 1.6 uses too
(firmware/ocpp/common/log_upload.py) and the diagnostics uploader. Facts: docs/reference/ocpp201.md §15.3.

- logType DiagnosticsLog: the diagnostics archive (state, logs, journals, credentials masked); SecurityLog:
  the security log (A04.FR.04), both for `oldestTimestamp`..`latestTimestamp` when given.
- The answer: Rejected for an unusable `remoteLocation`, AcceptedCanceled when it replaces a running
  upload (N01.FR.12), else Accepted, with the `filename` to be uploaded.
- Once the answer is out: LogStatusNotification Uploading, then Uploaded, or after 1 + `retries` attempts
  (`retryInterval` s apart, default 60) UploadFailure / PermissionDenied / NotSupportedOperation /
  BadMessage by the last attempt's failure, each with the requestId (N01.FR.07-10).
- An https:// location is checked against the system's roots and the CSMS's trust anchors (installed
  CSMSRootCertificates, `ca_file`; N01.FR.15).
- A status that cannot be sent (link down) is kept, the newest one only, and sent once registered again
  (`firmware/ocpp/common/latest_status.py`).
- TriggerMessage LogStatusNotification: Uploading with the requestId while an upload runs, else Idle
  (F06.FR.14/15).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call, call_result

from firmware.ocpp.common.diagnostics import StatusProvider
from firmware.ocpp.common.latest_status import LatestStatus
from firmware.ocpp.common.log_upload import LogUploads, make_uploader
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


class Logs201:
    def __init__(self, settings: OcppSettings, clock: Clock, state_dir: Path, status: StatusProvider,
                 security_log: SecurityLog, connection: Callable[[], ChargePoint201 | None],
                 online: Callable[[], bool], trust_anchors: Callable[[], str]) -> None:
        self._connection = connection
        self._online = online
        self._tasks = OwnedTasks(log)
        self._status = LatestStatus("LogStatusNotification", self._send_status)
        self.logs = LogUploads(lambda notify: make_uploader(settings, clock, state_dir, status, notify,
                                                            trust_anchors),
                               security_log, settings.charge_point_id, clock, self._notify, self._tasks.spawn,
                               log)

    def stop(self) -> None:
        self._tasks.cancel_all()

    async def online(self, cp: ChargePoint201) -> None:
        await self._status.resend()  # the newest status an outage kept from the CSMS

    async def _notify(self, status: str, request_id: int | None) -> None:
        await self._status.notify(status, request_id)

    async def _send_status(self, status: str, request_id: int | None) -> None:
        cp = self._connection()
        if cp is None or not self._online():
            raise ConnectionError("not registered with the CSMS")
        await cp.call(call.LogStatusNotification(status=status, request_id=request_id), suppress=False)

    @on("GetLog")
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, call_unique_id: str,
                         **kwargs: Any) -> Any:
        answer, filename = await self.logs.request(
            call_unique_id, log_type, request_id, str(log["remote_location"]),
            parse_ocpp_time(log.get("oldest_timestamp")), parse_ocpp_time(log.get("latest_timestamp")))
        return call_result.GetLog(status=str(answer), filename=filename)

    @after("GetLog")
    async def after_get_log(self, log: dict[str, Any], call_unique_id: str, retries: int | None = None,
                            retry_interval: int | None = None, **kwargs: Any) -> None:
        interval = float(retry_interval) if retry_interval is not None else DEFAULT_RETRY_INTERVAL_S
        await self.logs.start(call_unique_id, str(log["remote_location"]), 1 + max(0, retries or 0), interval)

    def triggers(self) -> dict[str, Trigger]:
        async def status(cp: ChargePoint201, evse: EvseRef | None) -> None:
            await self._notify(*self.logs.current())

        return {"LogStatusNotification": Trigger(status)}
