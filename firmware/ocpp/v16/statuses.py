"""StatusNotification in 1.6: what each connector last reported, the change a 1.6 CSMS is told of, and
connector 0 (the charge point as a whole) derived from the connectors (OCPP 1.6 §4.9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from firmware.core.api import StationApi
from firmware.core.events import StatusChanged
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.messages import STATUS_NOTIFICATION
from firmware.ocpp.v16.vocabulary import STATUS, Notification, StatusChanges16, notification
from hal.clock import Clock


def status_payload(event: Notification) -> dict[str, Any]:
    payload: dict[str, Any] = {"connector_id": event.connector_id,
                               "status": event.status.value,
                               "error_code": event.error_code.value,
                               "timestamp": rfc3339(event.timestamp)}
    if event.vendor_error_code:
        payload["vendor_error_code"] = event.vendor_error_code[:50]
    if event.info:
        payload["info"] = event.info[:50]
    return payload


class StatusReports16:
    def __init__(self, station: StationApi, clock: Clock, outbox: Outbox, calls: Calls16,
                 wake_outbox: Callable[[], None]) -> None:
        self._station = station
        self._clock = clock
        self._outbox = outbox
        self._calls = calls
        self._wake_outbox = wake_outbox
        self._status: dict[int, Notification] = {}  # the last StatusNotification of each connector
        self._changes = StatusChanges16()

    def on_status(self, event: StatusChanged) -> None:
        if not self._changes.visible(event):
            return
        self._status_changed(notification(event))
        if event.connector_id != 0:
            # The core reports connectors only; connector 0 (the whole station) follows from them.
            station = self._station_status(event.timestamp)
            previous = self._status.get(0)
            if previous is None or (previous.status, previous.error_code) != (station.status,
                                                                              station.error_code):
                self._status_changed(station)

    def _status_changed(self, event: Notification) -> None:
        self._status[event.connector_id] = event
        if self._calls.online:
            self._outbox.push_status(event.connector_id, STATUS_NOTIFICATION, status_payload(event))
            self._wake_outbox()

    def _station_status(self, when: datetime) -> Notification:
        """Connector 0: Unavailable when every connector is, Faulted when all share one fault, else
        Available (OCPP 1.6 §4.9: connector 0 reports the Charge Point as a whole)."""
        each = [self.current(c) for c in self._station.connector_ids]
        no_error = ChargePointErrorCode.no_error
        if each and all(e.status == ChargePointStatus.unavailable for e in each):
            return Notification(0, ChargePointStatus.unavailable, no_error, None, None, when)
        first = each[0] if each else None
        if first is not None and first.status == ChargePointStatus.faulted and all(
                e.status == ChargePointStatus.faulted and e.error_code == first.error_code
                and e.vendor_error_code == first.vendor_error_code for e in each):
            return Notification(0, ChargePointStatus.faulted, first.error_code, first.vendor_error_code,
                                first.info, when)
        return Notification(0, ChargePointStatus.available, no_error, None, None, when)

    def current(self, connector_id: int) -> Notification:
        """What connector `connector_id` reports now (before any change: derived from the core's state)."""
        known = self._status.get(connector_id)
        if known is not None:
            return known
        if connector_id == 0:
            return self._station_status(self._clock.now())
        status = STATUS[self._station.state_of(connector_id)]
        error = ChargePointErrorCode.other_error if status == ChargePointStatus.faulted \
            else ChargePointErrorCode.no_error
        return Notification(connector_id, status, error, None, None, self._clock.now())

    def queue_all(self) -> None:
        """After registration: every connector's status (connector 0 first)."""
        for connector_id in [0, *self._station.connector_ids]:
            current = self.current(connector_id)
            self._status.setdefault(connector_id, current)
            self._outbox.push_status(connector_id, STATUS_NOTIFICATION, status_payload(current))
        self._wake_outbox()
