"""Delivery of the durable outbox on a 1.6 connection, in two lanes that share it (one CALL at a time):
transaction messages strictly in order with retries, and status / live meter values, which never wait
behind a transaction backlog. The answers are recorded: the transactionId of a StartTransaction, the
idTagInfo for the authorization cache, and a refused id tag stops (or pauses) its session."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from firmware.core.api import StationApi
from firmware.core.vocabulary import LimitSource, StopReason
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.outbox import Kind, Outbox, Row
from firmware.ocpp.v16.auth import LocalAuthorizer
from firmware.ocpp.v16.calls import Calls16
from hal.clock import Clock

log = logging.getLogger(__name__)

UNSUPPORTED = ("NotImplemented", "NotSupported")  # CALLERROR codes that no retry can change


class Delivery16:
    def __init__(self, outbox: Outbox, calls: Calls16, config: ConfigurationStore, clock: Clock,
                 authorizer: LocalAuthorizer, station: StationApi) -> None:
        self._outbox = outbox
        self._calls = calls
        self._config = config
        self._clock = clock
        self._authorizer = authorizer
        self._station = station
        self._changed = asyncio.Event()
        self.idle = asyncio.Event()  # no transaction message is waiting for its answer
        self.idle.set()

    def wake(self) -> None:
        """Deliver rows queued in the outbox."""
        self._changed.set()

    async def loop(self, durable: bool) -> None:
        while True:
            row = self._outbox.head(durable)
            if row is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self._deliver(row)
            if durable:
                self.wake()  # a StartTransaction that went (or was given up) may free statuses

    async def _deliver(self, row: Row) -> None:
        payload = dict(row.payload)
        if row.kind in (Kind.CLOSES, Kind.IN_SESSION) and row.session_id is not None:
            transaction_id = self._outbox.transaction_id(row.session_id)
            if transaction_id is None:
                log.error("dropping %s of session %s: its StartTransaction was never confirmed",
                          row.action, row.session_id)
                self._outbox.dropped(row)
                return
            payload["transaction_id"] = transaction_id
        if row.durable:
            self.idle.clear()
        try:
            conf = await self._calls.call(getattr(call, row.action)(**payload),
                                          unique_id=self._calls.queued_id(row.seq, row.attempts))
        except (OCPPError, TimeoutError) as exc:
            self.idle.set()
            attempts = self._config.get_int("TransactionMessageAttempts")
            if row.session_id is None and isinstance(exc, OCPPError) and exc.code in UNSUPPORTED:
                attempts = 1  # e.g. a CSMS without the security extensions: asking again will not help
            if self._outbox.failed(row, attempts):
                log.error("gave up %s #%d after %d attempt(s): %s", row.action, row.seq, row.attempts + 1,
                          exc)
                return
            log.warning("%s #%d failed (%s); retrying", row.action, row.seq, exc)
            interval = self._config.get_int("TransactionMessageRetryInterval") * (row.attempts + 1)
            await self._clock.sleep(interval)
            return
        finally:
            self.idle.set()  # set without yielding: the outcome below is recorded before stop() resumes
        if row.kind is Kind.OPENS:
            self._outbox.delivered(row, transaction_id=int(conf.transaction_id))
            self._started_confirmed(row, conf)
        else:
            self._outbox.delivered(row)
            if row.kind is Kind.CLOSES and conf.id_tag_info and row.payload.get("id_tag"):
                self._authorizer.remember(row.payload["id_tag"], conf.id_tag_info)

    def _started_confirmed(self, row: Row, conf: Any) -> None:
        info = conf.id_tag_info or {}
        id_tag = row.payload.get("id_tag")
        if id_tag:
            self._authorizer.remember(id_tag, info)
        if info.get("status") == "Accepted" or row.session_id is None:
            return
        connector_id = int(row.payload["connector_id"])
        session = self._station.session_of(connector_id)
        if session is None or str(session["id"]) != row.session_id:
            return
        log.warning("CSMS refused id tag of transaction %s (%s)", conf.transaction_id, info.get("status"))
        if self._config.get_bool("StopTransactionOnInvalidId"):
            self._station.stop_session(connector_id, StopReason.DEAUTHORIZED)
        else:
            self._station.set_limit(LimitSource.AUTHORIZATION, 0.0, connector_id)
