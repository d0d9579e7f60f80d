"""1.6 transactions from the core's sessions: StartTransaction when a session starts (after the driver's
price when pricing asks to wait), StopTransaction with its transaction data when it stops (on a signing
meter: once the signed end is in), sessions a restart cut short ended at start-up, and the mapping
between the station's session ids and the CSMS's integer transactionIds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from firmware.core.api import StationApi
from firmware.core.events import SessionStarted, SessionStopped
from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.ocpp.v16.messages import START_TRANSACTION, STOP_TRANSACTION
from firmware.ocpp.v16.sampling import MeterSampling16
from firmware.ocpp.v16.vocabulary import REASON
from hal.clock import Clock

log = logging.getLogger(__name__)


class SignedEnds(Protocol):
    """The signing meters' part in a transaction (SignedValues16)."""

    def started(self, session_id: str) -> None: ...

    def stop_after_signing(self, session_id: str, connector_id: int,
                           queue_stop: Callable[[], None]) -> bool: ...


class StartDelay(Protocol):
    """Pricing that may hold StartTransaction back until the driver's price came (CaliforniaPricing16)."""

    def delay_start(self, id_tag: str | None, start: Callable[[], None]) -> bool: ...


class Transactions16:
    def __init__(self, station: StationApi, clock: Clock, outbox: Outbox, sampling: MeterSampling16,
                 wake_outbox: Callable[[], None], free_charging_id_tag: str) -> None:
        self._station = station
        self._clock = clock
        self._outbox = outbox
        self._sampling = sampling
        self._wake_outbox = wake_outbox
        self._free_charging_id_tag = free_charging_id_tag
        self.signed: SignedEnds | None = None
        self.pricing: StartDelay | None = None

    # ---- lookups ------------------------------------------------------------------------------------
    def session_id(self, connector_id: int) -> str | None:
        session = self._station.session_of(connector_id)
        return None if session is None else str(session["id"])

    def active_transaction_id(self, connector_id: int) -> int | None:
        """The OCPP transactionId of the session running on a connector (None if none or not yet known)."""
        session_id = self.session_id(connector_id)
        return None if session_id is None else self._outbox.transaction_id(session_id)

    def connector_of_transaction(self, transaction_id: int) -> int | None:
        session_id = self._outbox.session_for_transaction(transaction_id)
        if session_id is None:
            return None
        for connector_id in self._station.connector_ids:
            if self.session_id(connector_id) == session_id:
                return connector_id
        return None

    def transaction_status(self, connector_id: int) -> dict[str, Any] | None:
        session = self._station.session_of(connector_id)
        if session is None:
            return None
        tx = self._outbox.transaction(str(session["id"]))
        return {"id": None if tx is None else tx["transaction_id"], "id_tag": session.get("id_tag"),
                "started_at": session.get("started_at"),
                "meter_start": None if tx is None else tx["meter_start"]}

    def _id_tag(self, id_tag: str | None) -> str:
        return (id_tag or self._free_charging_id_tag)[:20]

    # ---- start --------------------------------------------------------------------------------------
    def session_started(self, event: SessionStarted) -> None:
        pricing = self.pricing
        if pricing is not None and pricing.delay_start(event.id_tag, lambda: self._start_transaction(event)):
            return
        self._start_transaction(event)

    def _start_transaction(self, event: SessionStarted) -> None:
        payload: dict[str, Any] = {"connector_id": event.connector_id, "id_tag": self._id_tag(event.id_tag),
                                   "meter_start": round(event.meter_start_wh),
                                   "timestamp": rfc3339(event.timestamp)}
        if event.reservation_id is not None:
            payload["reservation_id"] = event.reservation_id
        if not self._outbox.begin(event.session_id, event.connector_id, event.id_tag, payload["timestamp"],
                                  payload["meter_start"], START_TRANSACTION, payload):
            return
        begin = self._sampling.readings.with_energy(event.connector_id, event.meter_start_wh)
        self._sampling.tx_sample(event.session_id, event.connector_id, event.timestamp, "Transaction.Begin",
                                 begin, "StopTxnSampledData")
        self._sampling.start_sampler(event.session_id, event.connector_id)
        if self.signed is not None:
            self.signed.started(event.session_id)
        self._wake_outbox()

    # ---- stop ---------------------------------------------------------------------------------------
    def session_stopped(self, event: SessionStopped) -> None:
        self._sampling.stop_sampler(event.session_id)
        stop_ts = rfc3339(event.timestamp)
        if not self._outbox.knows(event.session_id):
            # The core started this session while we were not listening (e.g. killed right after).
            log.warning("session %s stopped but its start was never seen; reporting both", event.session_id)
            meter_start = round(event.meter_start_wh if event.meter_start_wh is not None
                                else event.meter_stop_wh)
            start_ts = rfc3339(event.started_at) if event.started_at is not None else stop_ts
            start = {"connector_id": event.connector_id, "id_tag": self._id_tag(event.start_id_tag),
                     "meter_start": meter_start, "timestamp": start_ts}
            self._outbox.begin(event.session_id, event.connector_id, event.start_id_tag, start_ts,
                               meter_start, START_TRANSACTION, start)
        meter_stop_wh = event.meter_stop_wh
        if event.reason is StopReason.POWER_LOSS:
            # The journal's last value may be older than meter values already queued for the CSMS: never
            # report a meterStop below them.
            meter_stop_wh = self._sampled_energy(event.session_id, meter_stop_wh)[0]
        self._sampling.tx_sample(event.session_id, event.connector_id, event.timestamp, "Transaction.End",
                                 self._sampling.readings.with_energy(event.connector_id, meter_stop_wh),
                                 "StopTxnSampledData")

        def queue() -> None:
            self._queue_stop(event.session_id, meter_stop_wh, stop_ts, REASON[event.reason].value,
                             event.id_tag)

        signed = self.signed
        if signed is None or not signed.stop_after_signing(event.session_id, event.connector_id, queue):
            queue()

    def _queue_stop(self, session_id: str, meter_stop_wh: float, timestamp: str, reason: str,
                    id_tag: str | None) -> None:
        payload: dict[str, Any] = {"meter_stop": round(meter_stop_wh), "timestamp": timestamp,
                                   "reason": reason}
        if id_tag:
            payload["id_tag"] = id_tag[:20]
        data = self._outbox.tx_data(session_id)
        if data:
            payload["transaction_data"] = data
        if self._outbox.end(session_id, STOP_TRANSACTION, payload):
            self._wake_outbox()

    # ---- after a restart ----------------------------------------------------------------------------
    def reconcile(self) -> None:
        """At start: end sessions the core no longer runs; resume meter sampling for those it still runs."""
        running = {}
        for connector_id in self._station.connector_ids:
            session = self._station.session_of(connector_id)
            if session is not None:
                running[str(session["id"])] = connector_id
        for session_id in self._outbox.open_sessions():
            tx = self._outbox.transaction(session_id)
            if tx is None:
                continue
            if session_id in running:
                self._sampling.start_sampler(session_id, running[session_id])
                continue
            # The core reports an interrupted session as SessionStopped(PowerLoss); if it did so before we
            # subscribed, end it here with the last value we persisted. A later report is deduplicated.
            energy, when = self._sampled_energy(session_id, float(tx["meter_start"]))

            def queue(session_id: str = session_id, energy: float = energy,
                      when: datetime | None = when) -> None:
                self._queue_stop(session_id, energy, rfc3339(when or self._clock.now()),
                                 REASON[StopReason.POWER_LOSS].value, None)

            # On a signing meter the stop waits for the signed end (docs/signed-metering.md).
            if self.signed is None or not self.signed.stop_after_signing(session_id, int(tx["connector_id"]),
                                                                         queue):
                queue()

    def _sampled_energy(self, session_id: str, floor_wh: float) -> tuple[float, datetime | None]:
        """The highest energy register among the session's persisted samples (at least `floor_wh`), and
        the time of the last of them."""
        energy, when = floor_wh, None
        for value in self._outbox.tx_data(session_id):
            for sampled in value["sampled_value"]:
                if sampled["measurand"] == "Energy.Active.Import.Register" \
                        and sampled.get("format") != "SignedData":
                    energy = max(energy, float(sampled["value"]))
                    when = parse_ocpp_time(value["timestamp"]) or when
        return energy, when
