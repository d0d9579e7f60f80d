"""OCPP 2.0.1 clock-aligned meter values and the MeterValues message (functional block J, J01), and the
triggered MeterValues / TransactionEvent (F06.FR.06/07), on the common sampling policy
(firmware/ocpp/common/sampling.py `sample_clock_aligned`, boundaries counted from midnight UTC).

On every boundary of AlignedDataCtrlr.Interval (0 = off), per EVSE with a reading
(docs/reference/ocpp201.md §6, §14):
- an EVSE with a running transaction: TransactionEvent Updated, triggerReason MeterValueClock, the
  AlignedDataCtrlr.Measurands in context Sample.Clock (queued durably like every TransactionEvent);
- an EVSE without one, only when AlignedDataCtrlr.SendDuringIdle is true: MeterValues with its evseId
  (live: not queued while offline, a clock value is current information only).
On every boundary of AlignedDataCtrlr.TxEndedInterval (0 = off) each running transaction keeps a
AlignedDataCtrlr.TxEndedMeasurands sample (Sample.Clock) for its Ended (E06.FR.11).
The station has no main meter of its own: evseId 0 is never sent, and a trigger for EVSE 0 is Rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from firmware.ocpp.common.sampling import sample_clock_aligned
from firmware.ocpp.v201.device_model.keys import AttributeKey
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.meter_values import meter_value
from firmware.ocpp.v201.transactions import Transactions201
from firmware.ocpp.v201.trigger import EvseRef, Trigger
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

INTERVAL = "AlignedDataCtrlr.Interval"
TX_ENDED_INTERVAL = "AlignedDataCtrlr.TxEndedInterval"
MEASURANDS = "AlignedDataCtrlr.Measurands"
TX_ENDED_MEASURANDS = "AlignedDataCtrlr.TxEndedMeasurands"
SEND_DURING_IDLE = "AlignedDataCtrlr.SendDuringIdle"


class AlignedData201:
    def __init__(self, clock: Clock, model: DeviceModel, transactions: Transactions201,
                 connection: Callable[[], ChargePoint201 | None], online: Callable[[], bool],
                 evse_ids: Callable[[], list[int]]) -> None:
        self.clock = clock
        self.model = model
        self.transactions = transactions
        self._connection = connection
        self._online = online
        self._evse_ids = evse_ids
        self._changed = {INTERVAL: asyncio.Event(), TX_ENDED_INTERVAL: asyncio.Event()}
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        model.on_change(self._variable_changed)

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        for key, due in ((INTERVAL, self._aligned), (TX_ENDED_INTERVAL, self._tx_ended)):
            self._tasks.append(asyncio.create_task(
                sample_clock_aligned(self.clock, self._interval(key), self._changed[key], due),
                name=f"ocpp201-{key}"))

    def _interval(self, key: str) -> Callable[[], int]:
        return lambda: self.model.integer(key)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._sends]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def online(self, cp: ChargePoint201) -> None:
        return None

    def _variable_changed(self, key: AttributeKey, value: str) -> None:
        event = self._changed.get(key.text())
        if event is not None:
            event.set()  # a changed interval counts from the next boundary of the new one

    # --- the boundaries ------------------------------------------------------------------------------
    def _value(self, cid: int, when: datetime, measurands: str, context: str) -> dict[str, Any] | None:
        reading = self.transactions.readings.latest(cid)
        if reading is None:
            return None
        return meter_value(when, reading, self.model.members(measurands), context,
                           self.transactions.readings.offered_a(cid))

    def _aligned(self, now: datetime) -> None:
        for cid in self._evse_ids():
            value = self._value(cid, now, MEASURANDS, "Sample.Clock")
            if value is None:
                continue
            if self.transactions.queue_meter(cid, now, "MeterValueClock", value):
                continue
            if self.model.flag(SEND_DURING_IDLE) and self._online():
                self._send_later(cid, value)

    def _tx_ended(self, now: datetime) -> None:
        for cid in self._evse_ids():
            value = self._value(cid, now, TX_ENDED_MEASURANDS, "Sample.Clock")
            if value is not None:
                self.transactions.keep_for_ended(cid, value)

    def _send_later(self, cid: int, value: dict[str, Any]) -> None:
        cp = self._connection()
        if cp is None:
            return
        task = asyncio.create_task(self._send(cp, cid, value), name=f"ocpp201-meter-values-{cid}")
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, cp: ChargePoint201, cid: int, value: dict[str, Any]) -> None:
        try:
            await cp.call(call.MeterValues(evse_id=cid, meter_value=[value]), suppress=False)
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("MeterValues for EVSE %d not delivered: %s", cid, exc)

    # --- TriggerMessage (F06) ------------------------------------------------------------------------
    def triggers(self) -> Mapping[str, Trigger]:
        async def meter_values(cp: ChargePoint201, evse: EvseRef | None) -> None:
            # F06.FR.06: the most recent AlignedDataCtrlr.Measurands, for the EVSE asked or every EVSE
            for cid in [evse.id] if evse is not None else self._evse_ids():
                value = self._value(cid, self.clock.now(), MEASURANDS, "Trigger")
                if value is not None:
                    await self._send(cp, cid, value)

        async def transaction_event(cp: ChargePoint201, evse: EvseRef | None) -> None:
            # F06.FR.07: Updated, triggerReason Trigger, with the TxUpdatedMeasurands
            now = self.clock.now()
            for cid in [evse.id] if evse is not None else self._evse_ids():
                value = self._value(cid, now, "SampledDataCtrlr.TxUpdatedMeasurands", "Trigger")
                self.transactions.queue_meter(cid, now, "Trigger", value)

        def transaction_on(evse: EvseRef | None) -> bool:
            return any(self.transactions.open.get(cid) is not None
                       for cid in ([evse.id] if evse is not None else self._evse_ids()))

        return {
            "MeterValues": Trigger(meter_values, accepts=lambda evse: evse is None or evse.id != 0,
                                   evse_scoped=True),
            "TransactionEvent": Trigger(transaction_event, accepts=transaction_on, evse_scoped=True),
        }
