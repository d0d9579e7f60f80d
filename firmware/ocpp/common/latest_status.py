"""The newest status notification of a long job (firmware update, log upload) that did not reach the CSMS.

A firmware download or a log upload runs on while the link is down; its status notifications then fail.
Only the newest one still matters (Downloading is stale once Installed is known), so that one is kept and
sent once the station is registered again; a newer notification replaces it, and one that goes out clears
it. A CALLERROR answer counts as delivered (the CSMS has it). The record is in memory: what a restart
interrupts is reported by the job's own record (firmware_update.py `report_after_restart`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ocpp.exceptions import OCPPError

log = logging.getLogger(__name__)

Send = Callable[[str, int | None], Awaitable[None]]


class LatestStatus:
    def __init__(self, name: str, send: Send) -> None:
        self._name = name
        self._send = send
        self._pending: tuple[str, int | None] | None = None

    @property
    def pending(self) -> tuple[str, int | None] | None:
        return self._pending

    async def notify(self, status: str, request_id: int | None) -> None:
        """Send now; when that fails keep it for `resend` and raise as the sender did."""
        try:
            await self._send(status, request_id)
        except OCPPError:
            self._pending = None
            raise
        except Exception:
            self._pending = (status, request_id)
            raise
        self._pending = None

    async def resend(self) -> None:
        """Once registered again: the kept notification, if any (never raises)."""
        pending = self._pending
        if pending is None:
            return
        try:
            await self._send(*pending)
        except OCPPError as exc:
            log.warning("%s %s answered with an error: %s", self._name, pending[0], exc)
        except Exception as exc:
            log.warning("%s %s still not delivered: %s", self._name, pending[0], exc)
            return
        if self._pending == pending:  # not replaced meanwhile
            self._pending = None
        log.info("%s %s delivered after the reconnect", self._name, pending[0])
