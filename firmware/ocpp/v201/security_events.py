"""SecurityEventNotification (A04) for 2.0.1: every event of the security log that is to be reported (the
critical ones and the refusals a CSMS request caused, firmware/security/events.py; the same events 1.6
reports) is queued in the durable outbox exactly once and delivered in order by Delivery201, after any
outage or restart (A04.FR.01/02; the common forwarder, firmware/ocpp/common/security_events.py). Every
event stays in the rolling security log (A04.FR.04), which GetLog uploads.

The log names events as the 1.6 security whitepaper does; four of them have other names in 2.0.1 (P2-App
`security_events.csv`, docs/reference/ocpp201.md §15): `NAMES` translates them. `techInfo` carries the
log entry's detail. SecurityEventNotification is not a message TriggerMessage can ask for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.security_events import SecurityEventForwarder
from firmware.ocpp.common.timefmt import rfc3339
from firmware.security.events import SecurityEvent, SecurityEventType, SecurityLog
from firmware.storage.database import StateDatabase

if TYPE_CHECKING:
    from collections.abc import Callable

    from firmware.ocpp.v201.charge_point import ChargePoint201

ACTION = "SecurityEventNotification"

# The security log's name → the 2.0.1 name, where they differ (the others are the same in both).
NAMES: dict[str, str] = {
    SecurityEventType.FAILED_TO_AUTHENTICATE_AT_CSMS: "FailedToAuthenticateAtCsms",
    SecurityEventType.CSMS_FAILED_TO_AUTHENTICATE: "CsmsFailedToAuthenticate",
    SecurityEventType.INVALID_CSMS_CERTIFICATE: "InvalidCsmsCertificate",
    SecurityEventType.INVALID_CHARGING_STATION_CERTIFICATE: "InvalidChargingStationCertificate",
}


def event_type(name: str) -> str:
    """The 2.0.1 name of a security log entry's type (a vendor event keeps its name)."""
    return NAMES.get(name, name)


def payload(event: SecurityEvent) -> dict[str, Any]:
    """SecurityEventNotificationRequest {type, timestamp, techInfo?} of one log entry."""
    body: dict[str, Any] = {"type": event_type(event.type), "timestamp": rfc3339(event.timestamp)}
    if event.tech_info:
        body["tech_info"] = event.tech_info
    return body


class SecurityEvents201:
    """The feature: the forwarder on the 2.0.1 outbox; Delivery201 sends the rows."""

    def __init__(self, db: StateDatabase, security_log: SecurityLog, outbox: Outbox,
                 wake: Callable[[], None]) -> None:
        self._forwarder = SecurityEventForwarder(db, security_log, outbox, ACTION, payload, wake)

    def start(self) -> None:
        """Queue what was recorded before we listened (StartupOfTheDevice, other processes' entries)."""
        self._forwarder.forward()

    def stop(self) -> None:
        self._forwarder.close()

    async def online(self, cp: ChargePoint201) -> None:
        return None
