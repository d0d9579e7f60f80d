"""Delivers the durable rows of the 2.0.1 outbox (firmware/ocpp/common/outbox.py) strictly in order while
the station is registered: TransactionEvents queued online or offline reach the CSMS in the order they
happened, after any restart (E04.FR.01, E11.FR.01, E12).

A row that fails (a CALLERROR or no answer within the message timeout; a lost connection is not a failure:
the row is sent again on the next connection) is sent again after OCPPCommCtrlr.MessageAttemptInterval
[TransactionEvent] times the number of attempts so far, and given up after MessageAttempts[TransactionEvent]
attempts (E13.FR.02-04); delivery then goes on with the next row. Whoever cares about a kind of row may
ask for its answers (`on_answer`, any number of handlers per action, called in the order they were added):
a TransactionEventResponse's idTokenInfo goes to the transactions, its totalCost and personal messages to
the tariff and cost block. A handler that raises is logged and does not keep the others from the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from firmware.ocpp.common.outbox import Outbox, Row
from firmware.ocpp.v201.device_model.model import DeviceModel
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

ATTEMPTS = "OCPPCommCtrlr.MessageAttempts[TransactionEvent]"
INTERVAL = "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]"
Answered = Callable[[Row, Any], None]


class Delivery201:
    def __init__(self, outbox: Outbox, model: DeviceModel, clock: Clock) -> None:
        self.outbox = outbox
        self.model = model
        self.clock = clock
        self._changed = asyncio.Event()
        self._answered: dict[str, list[Answered]] = {}
        self.sending: Row | None = None  # the row waiting for its answer

    def on_answer(self, action: str, handler: Answered) -> None:
        self._answered.setdefault(action, []).append(handler)

    def wake(self) -> None:
        """A row was queued."""
        self._changed.set()

    async def online(self, cp: ChargePoint201) -> None:
        while True:
            row = self.outbox.head(True)
            if row is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self._deliver(cp, row)

    async def _deliver(self, cp: ChargePoint201, row: Row) -> None:
        self.sending = row
        try:
            answer = await cp.call(getattr(call, row.action)(**row.payload), suppress=False)
        except (OCPPError, TimeoutError) as exc:
            attempts = self.model.integer(ATTEMPTS)
            if self.outbox.failed(row, attempts):
                log.error("gave up %s #%d after %d attempt(s): %s", row.action, row.seq, row.attempts + 1,
                          exc)
                return
            log.warning("%s #%d failed (%s); trying again", row.action, row.seq, exc)
            await self.clock.sleep(self.model.integer(INTERVAL) * (row.attempts + 1))
            return
        finally:
            self.sending = None
        self.outbox.delivered(row)
        for handler in self._answered.get(row.action, ()):
            try:
                handler(row, answer)
            except Exception:
                log.exception("handling the answer to %s #%d failed", row.action, row.seq)
