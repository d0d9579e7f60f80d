"""Messages the CSMS triggers in 1.6 (TriggerMessage, and ExtendedTriggerMessage through the security
extensions): sent one after the other; a trigger for a message already owed (triggered and not yet being
sent) is covered by that one, so a trigger flood never piles up messages."""

from __future__ import annotations

import asyncio
import logging

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from firmware.core.api import StationApi
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.extensions import Extensions16
from firmware.ocpp.v16.registration import Registration16
from firmware.ocpp.v16.sampling import MeterSampling16
from firmware.ocpp.v16.statuses import StatusReports16, status_payload
from firmware.ocpp.v16.transactions import Transactions16
from hal.clock import Clock
from hal.types import MeterReading

log = logging.getLogger(__name__)


class Triggers16:
    def __init__(self, station: StationApi, clock: Clock, calls: Calls16, extensions: Extensions16,
                 registration: Registration16, statuses: StatusReports16, sampling: MeterSampling16,
                 transactions: Transactions16) -> None:
        self._station = station
        self._clock = clock
        self._calls = calls
        self._extensions = extensions
        self._registration = registration
        self._statuses = statuses
        self._sampling = sampling
        self._transactions = transactions
        self._turn = asyncio.Lock()  # triggered messages go out one after the other
        self._owed: set[tuple[str, int | None]] = set()  # triggered, not yet being sent

    async def send_triggered(self, message: str, connector_id: int | None) -> None:
        """Send a message the CSMS triggered. A trigger for a message that is already owed (triggered and
        not yet being sent) is covered by that one, so a trigger flood never piles up messages."""
        owed = (message, connector_id)
        if owed in self._owed:
            return
        self._owed.add(owed)
        try:
            await self._turn.acquire()
        except BaseException:
            self._owed.discard(owed)
            raise
        self._owed.discard(owed)  # from now on a new trigger owes a new message
        try:
            await self._send(message, connector_id)
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("triggered %s failed: %s", message, exc)
        finally:
            self._turn.release()

    async def _send(self, message: str, connector_id: int | None) -> None:
        if (sender := self._extensions.trigger_senders.get(message)) is not None:
            await sender(connector_id)
        elif message == "BootNotification":
            await self._registration.triggered_boot()
        elif message == "Heartbeat":
            await self._registration.heartbeat()
        elif message == "StatusNotification":
            targets = [connector_id] if connector_id is not None else [0, *self._station.connector_ids]
            for target in targets:
                payload = status_payload(self._statuses.current(target))
                await self._calls.call(call.StatusNotification(**payload))
        elif message == "MeterValues":
            targets = [connector_id] if connector_id else self._station.connector_ids
            for target in targets:
                await self._send_meter(target)
        elif message == "DiagnosticsStatusNotification":
            await self._calls.call(call.DiagnosticsStatusNotification(
                status=self._extensions.diagnostics_status()))

    async def _send_meter(self, connector_id: int) -> None:
        reading = self._sampling.latest_reading(connector_id)
        if reading is None:
            reading = MeterReading(energy_import_wh=await self._station.latest_meter_wh(connector_id))
        value = self._sampling.meter_value(connector_id, self._clock.now(), reading,
                                           "MeterValuesSampledData", "Trigger")
        if value is None:
            return
        await self._calls.call(call.MeterValues(connector_id=connector_id, meter_value=[value],
                                                transaction_id=self._transactions.active_transaction_id(
                                                    connector_id)))
