"""The InvalidMessages security event, for every OCPP version: a frame from the CSMS that is not valid
OCPP (and every CALLERROR we answer for one) is written to the local security log, at most one entry per
INVALID_LOG_INTERVAL_S with the count of those in between, so a flood costs no flash writes. The entry is
local only (1.6 security whitepaper and 2.0.1 P2-App security_events.csv: not a critical event).

It is the framing's `FrameWatch` (firmware/ocpp/common/framing.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from firmware.security.events import SecurityEventType, SecurityLog

INVALID_LOG_INTERVAL_S = 10.0
# CALLERRORs that only say we lack the action, failed ourselves or refused by rate: not an invalid message.
NOT_INVALID = ("NotImplemented", "NotSupported", "InternalError", "GenericError")


class InvalidMessages:
    def __init__(self, security_log: SecurityLog, monotonic: Callable[[], float]) -> None:
        self._log = security_log
        self._monotonic = monotonic
        self._seen = 0
        self._logged_at: float | None = None

    def invalid_message(self, detail: str) -> None:
        """Log a frame from the CSMS that is not valid OCPP (throttled)."""
        now = self._monotonic()
        self._seen += 1
        if self._logged_at is not None and now - self._logged_at < INVALID_LOG_INTERVAL_S:
            return
        count, self._seen, self._logged_at = self._seen, 0, now
        self._log.record(SecurityEventType.INVALID_MESSAGES,
                         detail if count == 1 else f"{detail} (and {count - 1} more since the last entry)")

    def refused_call(self, frame: str) -> None:
        """A CALLERROR we send: InvalidMessages unless its code is one of NOT_INVALID."""
        try:
            _, unique_id, code, description = json.loads(frame)[:4]
        except (ValueError, TypeError):
            return
        if code not in NOT_INVALID:
            self.invalid_message(f"{code}: {str(description)[:120]} (message {str(unique_id)[:36]})")
