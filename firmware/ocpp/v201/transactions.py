"""OCPP 2.0.1 transactions (functional block E) on the charger's own sessions: TransactionEvent Started /
Updated / Ended, and GetTransactionStatus (E14).

A 2.0.1 transaction is not the core's session: it starts and ends where TxCtrlr.TxStartPoint and
TxStopPoint say (firmware/ocpp/v201/tx_points.py), on facts taken from the core's events: the EV is
connected (the pilot), the driver is authorized (a core session runs, or a token was accepted before the
plug), energy flows (chargingState Charging). With the 1.6-compatible default points (PowerPathClosed;
EVConnected,Authorized) a transaction is exactly one core session. Rules (docs/reference/ocpp201.md §6):
- the station makes the transactionId (a UUID) and sends it from the first event on, offline too;
- seqNo counts from 0 per transaction; `offline` is always present (true when the event happened while the
  station had no connection); every event has a triggerReason;
- Started carries the EVSE, the chargingState, the idToken once authorized, remoteStartId after a
  RequestStartTransaction (F02.FR.01) and the TxStartedMeasurands (Transaction.Begin, E02.FR.09); later
  events carry chargingState when it changed (ChargingStateChanged) and the idToken when it changed;
- Updated every SampledDataCtrlr.TxUpdatedInterval with TxUpdatedMeasurands (MeterValuePeriodic);
- Ended carries the stoppedReason and the TxEndedMeasurands: at the start, every TxEndedInterval and at
  the end (Transaction.End, E06.FR.11); on a signing meter also the signed begin and end records, and it
  waits for the end record (firmware/ocpp/v201/signed.py);
- every event is queued in the durable outbox and delivered in order (firmware/ocpp/v201/delivery.py);
- a transaction the station was running when it lost power is ended at the next start with stoppedReason
  PowerLoss (triggerReason AbnormalCondition), unless the core resumed its session;
- a TransactionEventResponse whose idTokenInfo is not Accepted deauthorizes: with TxCtrlr.StopTxOnInvalidId
  the session stops (Deauthorized / DeAuthorized), else charging is suspended (E05.FR.??, see docs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.core.events import (
    CoreEvent,
    MeterSampled,
    OfferChanged,
    PilotChanged,
    SessionStarted,
    SessionStopped,
    StatusChanged,
    TokenDecided,
)
from firmware.core.vocabulary import ConnectorState, LimitSource, StopReason
from firmware.metering.signed import SignedReading
from firmware.ocpp.common.outbox import Outbox, Row
from firmware.ocpp.common.sampling import ConnectorReadings, sample_periodically
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.delivery import Delivery201
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.meter_values import meter_value
from firmware.ocpp.v201.signed import SignedValues201
from firmware.ocpp.v201.status import STOPS, charging_state, connector_status
from firmware.ocpp.v201.tx_points import TxConditions, start_due, stop_due
from firmware.ocpp.v201.tx_store import EVENT, Tx, TxStore, new_transaction_id
from firmware.storage.database import StateDatabase
from hal.clock import Clock
from hal.pubsub import Subscribers
from hal.types import CPState, MeterReading

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)
# Each sampling interval of a transaction: the measurands it samples, and whether the sample goes out in
# an Updated (MeterValuePeriodic) or only into the transaction's data for Ended.
PERIODIC = {"SampledDataCtrlr.TxUpdatedInterval": ("SampledDataCtrlr.TxUpdatedMeasurands", True),
            "SampledDataCtrlr.TxEndedInterval": ("SampledDataCtrlr.TxEndedMeasurands", False)}

PLUGGED = frozenset({CPState.B, CPState.C, CPState.D})
NOT_PLUGGED = frozenset({CPState.A})  # E, F and an invalid reading say nothing about the cable
FREE_STATES = frozenset({"Available", "Reserved", "Unavailable", "Faulted"})  # 2.0.1 connectorStatus
DEFAULT_TOKEN_TYPE = "ISO14443"  # the charger's reader: RFID cards


@dataclass
class _Evse:
    """What the core told us about one EVSE (one connector each)."""

    connected: bool = False
    state: ConnectorState | None = None  # the core's connector state
    session_id: str | None = None
    id_tag: str | None = None
    pending_tag: str | None = None  # accepted before the plug, waiting for it
    meter_start_wh: float | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None


class Transactions201:
    def __init__(self, station: StationApi, clock: Clock, model: DeviceModel, db: StateDatabase,
                 outbox: Outbox, delivery: Delivery201, connected: Callable[[], bool],
                 signed: SignedValues201 | None = None) -> None:
        self.station = station
        self.clock = clock
        self.model = model
        self.outbox = outbox
        self.delivery = delivery
        self._connected = connected
        self.store = TxStore(db, outbox)
        self.open: dict[int, Tx] = {tx.evse_id: tx for tx in self.store.open_transactions()}
        self._evse = {cid: _Evse() for cid in station.connector_ids}
        self.readings = ConnectorReadings()
        self._samplers: dict[str, asyncio.Task[None]] = {}
        self._endings: set[asyncio.Task[None]] = set()  # Ended events waiting for the signed end
        self.signed = signed
        if signed is not None:
            signed.on_begin = self._signed_begin
        self._started = False
        self.began: Subscribers[Tx] = Subscribers("2.0.1 transaction began")  # after its Started is queued
        self.ended: Subscribers[Tx] = Subscribers("2.0.1 transaction ended")  # its Ended is decided
        # idToken types of the tokens a CSMS named (RequestStartTransaction); the reader's are RFID cards.
        self.token_types: dict[str, str] = {}
        delivery.on_answer(EVENT, self._answered)
        # Subscribed before the station starts: it reports sessions a power cut ended as it starts.
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """After the station started: end what a power cut interrupted, take up what still runs."""
        self._started = True
        connectors = {c["id"]: c for c in self.station.snapshot()["connectors"]}
        for cid, e in self._evse.items():
            e.connected = CPState(connectors[cid]["cp_state"]) in PLUGGED
            e.state = self.station.state_of(cid)
            session = self.station.session_of(cid)
            if session is not None:
                e.session_id, e.id_tag = str(session["id"]), session.get("id_tag")
        now = self.clock.now()
        for cid, tx in list(self.open.items()):
            if tx.session_id is not None and tx.session_id == self._evse[cid].session_id:
                self._start_sampler(tx)
                continue
            trigger, stopped = STOPS[StopReason.POWER_LOSS]
            self._end(tx, now, trigger, stopped)
        for cid in self._evse:
            self._evaluate(cid, now, "CablePluggedIn" if self._evse[cid].connected else "Authorized")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [*self._samplers.values(), *self._endings]  # an Ended not queued: PowerLoss at next start
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def online(self, cp: ChargePoint201) -> None:
        return None  # the events go out through the outbox delivery

    # --- the core's events ---------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, MeterSampled):
            self.readings.sampled(event.connector_id, event.reading, event.timestamp)
        elif isinstance(event, OfferChanged):
            self.readings.offered(event.connector_id, event.offered_a)
        elif isinstance(event, SessionStopped):
            self._session_stopped(event)
        elif not self._started or event.connector_id not in self._evse:
            return
        elif isinstance(event, PilotChanged):
            self._pilot_changed(event)
        elif isinstance(event, StatusChanged):
            self._status_changed(event)
        elif isinstance(event, SessionStarted):
            self._session_started(event)
        elif isinstance(event, TokenDecided):
            self._token_decided(event)

    def _pilot_changed(self, event: PilotChanged) -> None:
        e = self._evse[event.connector_id]
        if event.cp_state in PLUGGED and not e.connected:
            e.connected = True
            self._evaluate(event.connector_id, event.timestamp, "CablePluggedIn")
        elif event.cp_state in NOT_PLUGGED and e.connected:
            e.connected = False
            if e.session_id is None:  # else the session's end (EVDisconnected) follows and reports it
                self._evaluate(event.connector_id, event.timestamp, "EVCommunicationLost", "EVDisconnected")

    def _status_changed(self, event: StatusChanged) -> None:
        cid = event.connector_id
        e = self._evse[cid]
        e.state = event.state
        if e.pending_tag is not None and e.session_id is None and \
                connector_status(e.state) in FREE_STATES:
            e.pending_tag = None  # the authorization waited in vain for the EV (EVConnectionTimeOut)
            self._evaluate(cid, event.timestamp, "EVConnectTimeout", "Timeout")
            return
        tx = self.open.get(cid)
        if e.session_id is not None and self.station.session_of(cid) is None:
            return  # the session is ending: its end reports the final state
        if tx is None or self._charging(cid) != tx.charging_state:
            stopped = "StoppedByEV" if self._charging(cid) == "SuspendedEV" else "Other"
            self._evaluate(cid, event.timestamp, "ChargingStateChanged", stopped)

    def _token_decided(self, event: TokenDecided) -> None:
        assert event.connector_id is not None
        cid = event.connector_id
        e = self._evse[cid]
        if not event.accepted or e.session_id is not None or self.station.session_of(cid) is not None:
            return  # it started, stopped or ended a session: that session's events say so
        if e.pending_tag == event.id_tag:  # presented again: the waiting authorization is cancelled
            e.pending_tag = None
            self._evaluate(cid, event.timestamp, "StopAuthorized", "Local", stop_token=event.id_tag)
        else:
            e.pending_tag = event.id_tag
            self._evaluate(cid, event.timestamp, "Authorized")

    def _session_started(self, event: SessionStarted) -> None:
        cid = event.connector_id
        e = self._evse[cid]
        token_first = e.pending_tag is not None
        e.session_id, e.id_tag, e.pending_tag = event.session_id, event.id_tag, None
        e.meter_start_wh = event.meter_start_wh
        e.reservation_id = event.reservation_id
        if e.remote_start_id is not None:
            trigger = "RemoteStart"
        elif event.id_tag is None or token_first:
            trigger = "CablePluggedIn"  # free charging starts at the plug; a token-first start there too
        else:
            trigger = "Authorized"
        tx = self.open.get(cid)
        if tx is not None:
            tx.session_id = event.session_id
            if event.id_tag is None and e.reservation_id is None and e.remote_start_id is None:
                return  # free charging: nothing new to say
        self._evaluate(cid, event.timestamp, trigger)

    def _session_stopped(self, event: SessionStopped) -> None:
        cid = event.connector_id
        e = self._evse.get(cid)
        if e is not None and e.session_id == event.session_id:
            e.session_id = e.id_tag = None
        tx = self.open.get(cid)
        if tx is None or tx.session_id != event.session_id:
            return
        trigger, stopped = STOPS[event.reason]
        if e is None or not self._started:
            self._end(tx, event.timestamp, trigger, stopped, event.id_tag, event.meter_stop_wh)
            return
        self._evaluate(cid, event.timestamp, trigger, stopped, event.id_tag, event.meter_stop_wh)

    # --- the transaction's course --------------------------------------------------------------------
    def _charging(self, cid: int) -> str:
        e = self._evse[cid]
        if not e.connected or e.state is None:
            return "Idle"
        return charging_state(e.state)

    def _conditions(self, cid: int) -> TxConditions:
        e = self._evse[cid]
        authorized = e.session_id is not None or e.pending_tag is not None
        return TxConditions(e.connected, authorized, self._charging(cid) == "Charging")

    def _evaluate(self, cid: int, when: datetime, trigger: str, stopped: str = "Other",
                  stop_token: str | None = None, meter_wh: float | None = None) -> None:
        tx = self.open.get(cid)
        conditions = self._conditions(cid)
        if tx is None:
            if start_due(self.model.members("TxCtrlr.TxStartPoint"), conditions):
                self._begin(cid, when, trigger)
        elif stop_due(self.model.members("TxCtrlr.TxStopPoint"), conditions):
            self._end(tx, when, trigger, stopped, stop_token, meter_wh)
        else:
            self._queue(tx, "Updated", when, trigger, id_token=stop_token)

    def _begin(self, cid: int, when: datetime, trigger: str) -> None:
        e = self._evse[cid]
        tx = Tx(new_transaction_id(), cid, session_id=e.session_id)
        reading = self._reading(cid, e.meter_start_wh if e.session_id is not None else None)
        started = meter_value(when, reading, self.model.members("SampledDataCtrlr.TxStartedMeasurands"),
                              "Transaction.Begin", self.readings.offered_a(cid))
        self.open[cid] = tx
        early = self.signed.take_begin(e.session_id) if self.signed is not None else None
        signed = [self.signed.value(early)] if self.signed is not None and early is not None else []
        self._queue(tx, "Started", when, trigger, meter=([started] if started else []) + signed)
        self.began.publish(tx)
        ended = meter_value(when, reading, self.model.members("SampledDataCtrlr.TxEndedMeasurands"),
                            "Transaction.Begin", self.readings.offered_a(cid))
        for sample in ([ended] if ended is not None else []) + signed:
            self.store.add_sample(tx.transaction_id, sample)
        self._start_sampler(tx)

    def _end(self, tx: Tx, when: datetime, trigger: str, stopped: str, stop_token: str | None = None,
             meter_wh: float | None = None) -> None:
        cid = tx.evse_id
        sampler = self._samplers.pop(tx.transaction_id, None)
        if sampler is not None:
            sampler.cancel()
        values = self.store.samples(tx.transaction_id)
        end = meter_value(when, self._reading(cid, meter_wh),
                          self.model.members("SampledDataCtrlr.TxEndedMeasurands"), "Transaction.End",
                          self.readings.offered_a(cid))
        if end is not None:
            values.append(end)
        del self.open[cid]
        self.ended.publish(tx)
        signed = self.signed
        if signed is None or tx.session_id is None or not signed.signs(cid):
            self._queue(tx, "Ended", when, trigger, meter=values, stopped=stopped, id_token=stop_token)
            return
        # Ended waits for the signed end (SMV §2.3.1: up to 30 s); what it says is fixed now.
        payload = self._event(tx, "Ended", when, trigger, meter=values, stopped=stopped, id_token=stop_token)
        session_id = tx.session_id

        async def when_signed() -> None:
            end = await signed.end_of(session_id, cid)
            if end is not None:
                payload.setdefault("meter_value", []).append(end)
            self.store.queue(tx, payload, end=True)
            self.delivery.wake()

        task = asyncio.create_task(when_signed(), name=f"ocpp201-signed-end-{tx.transaction_id}")
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)

    def _signed_begin(self, reading: SignedReading) -> bool:
        """A begin record signed while its transaction runs: kept for Ended, sent now (SignedDataReceived)."""
        assert self.signed is not None
        tx = next((t for t in self.open.values() if t.session_id == reading.session_id), None)
        if tx is None:
            return False
        value = self.signed.value(reading)
        self.store.add_sample(tx.transaction_id, value)
        self._queue(tx, "Updated", self.clock.now(), "SignedDataReceived", meter=[value])
        return True

    def _queue(self, tx: Tx, kind: str, when: datetime, trigger: str, *,
               meter: list[dict[str, Any]] | None = None, stopped: str | None = None,
               id_token: str | None = None) -> None:
        payload = self._event(tx, kind, when, trigger, meter=meter, stopped=stopped, id_token=id_token)
        self.store.queue(tx, payload, begin=kind == "Started", end=kind == "Ended")
        self.delivery.wake()

    def _event(self, tx: Tx, kind: str, when: datetime, trigger: str, *,
               meter: list[dict[str, Any]] | None = None, stopped: str | None = None,
               id_token: str | None = None) -> dict[str, Any]:
        """The TransactionEvent payload (its seqNo: tx.seq_no, advanced when it is queued)."""
        e = self._evse.get(tx.evse_id) or _Evse()
        info: dict[str, Any] = {"transaction_id": tx.transaction_id}
        state = self._charging(tx.evse_id)
        if state != tx.charging_state:
            info["charging_state"] = tx.charging_state = state
        if stopped is not None:
            info["stopped_reason"] = stopped
        if e.remote_start_id is not None and (e.session_id is not None or e.pending_tag is not None):
            info["remote_start_id"], e.remote_start_id = e.remote_start_id, None
            trigger = "RemoteStart"  # F02.FR.21: also when the cable (EVConnected) started it
        payload: dict[str, Any] = {
            "event_type": kind, "timestamp": rfc3339(when), "trigger_reason": trigger, "seq_no": tx.seq_no,
            "offline": not self._connected(), "transaction_info": info}
        if kind == "Started":
            payload["evse"] = {"id": tx.evse_id, "connector_id": 1}
        authorized = e.id_tag or e.pending_tag
        token = id_token or (authorized if authorized != tx.id_token else None)
        if token is not None:
            payload["id_token"] = {"id_token": token, "type": self.token_types.get(token, DEFAULT_TOKEN_TYPE)}
            tx.id_token = token
        if e.reservation_id is not None and e.session_id is not None:
            payload["reservation_id"], e.reservation_id = e.reservation_id, None
        if meter:
            payload["meter_value"] = meter
        return payload

    def _reading(self, cid: int, energy_wh: float | None) -> MeterReading:
        if energy_wh is None:
            return self.readings.latest(cid) or MeterReading(energy_import_wh=0.0)
        return self.readings.with_energy(cid, energy_wh)

    # --- periodic meter values -----------------------------------------------------------------------
    def _start_sampler(self, tx: Tx) -> None:
        if tx.transaction_id not in self._samplers:
            self._samplers[tx.transaction_id] = asyncio.create_task(
                self._sample_loop(tx), name=f"ocpp201-sampler-{tx.evse_id}")

    async def _sample_loop(self, tx: Tx) -> None:
        """Updated every TxUpdatedInterval; a TxEndedMeasurands sample every TxEndedInterval (0 = none)."""
        intervals = {key: (lambda key=key: self.model.integer(key)) for key in PERIODIC}
        await sample_periodically(self.clock, intervals, lambda key: self._periodic(tx, key))

    def _periodic(self, tx: Tx, interval: str) -> None:
        measurands, send = PERIODIC[interval]
        self._periodic_sample(tx, measurands, send=send)

    def _periodic_sample(self, tx: Tx, measurands: str, *, send: bool) -> None:
        reading = self.readings.latest(tx.evse_id)
        if reading is None or self.open.get(tx.evse_id) is not tx:
            return
        value = meter_value(self.clock.now(), reading, self.model.members(measurands), "Sample.Periodic",
                            self.readings.offered_a(tx.evse_id))
        if value is None:
            return
        if send:
            self._queue(tx, "Updated", self.clock.now(), "MeterValuePeriodic", meter=[value])
        else:
            self.store.add_sample(tx.transaction_id, value)

    def meter_update(self, cid: int, trigger: str, context: str) -> bool:
        """An Updated with the TxUpdatedMeasurands now (e.g. for a running-cost trigger); False without a
        transaction or a reading."""
        tx, reading = self.open.get(cid), self.readings.latest(cid)
        if tx is None or reading is None:
            return False
        now = self.clock.now()
        value = meter_value(now, reading, self.model.members("SampledDataCtrlr.TxUpdatedMeasurands"), context,
                            self.readings.offered_a(cid))
        if value is None:
            return False
        self._queue(tx, "Updated", now, trigger, meter=[value])
        return True

    def queue_meter(self, cid: int, when: datetime, trigger: str, value: dict[str, Any] | None) -> bool:
        """An Updated of the transaction running on `cid` with `value` (clock-aligned, triggered); False
        when none runs there."""
        tx = self.open.get(cid)
        if tx is None:
            return False
        if trigger == "Trigger":
            tx.charging_state = None  # F06.FR.07: a triggered event always carries the chargingState
        self._queue(tx, "Updated", when, trigger, meter=[value] if value is not None else None)
        return True

    def keep_for_ended(self, cid: int, value: dict[str, Any]) -> None:
        """A sample for the Ended of the transaction running on `cid`, if any (E06.FR.11)."""
        tx = self.open.get(cid)
        if tx is not None:
            self.store.add_sample(tx.transaction_id, value)

    # --- the CSMS ------------------------------------------------------------------------------------
    def _answered(self, row: Row, answer: Any) -> None:
        """E05: a TransactionEventResponse refusing the idToken ends (or suspends) the authorization."""
        info = answer.id_token_info
        if not info or info.get("status") == "Accepted":
            return
        for cid, tx in self.open.items():
            if tx.transaction_id == row.session_id and self.station.session_of(cid) is not None:
                log.warning("CSMS refused the idToken of transaction %s (%s)", tx.transaction_id,
                            info.get("status"))
                if self.model.flag("TxCtrlr.StopTxOnInvalidId"):
                    self.station.stop_session(cid, StopReason.DEAUTHORIZED)
                else:
                    self.station.set_limit(LimitSource.AUTHORIZATION, 0.0, cid)

    def transaction_status(self, evse_id: int) -> dict[str, Any] | None:
        """`chargepi status`: the transaction open on an EVSE (its connector), as the CSMS knows it."""
        tx = self.open.get(evse_id)
        if tx is None:
            return None
        return {"id": tx.transaction_id, "id_tag": tx.id_token, "seq_no": tx.seq_no,
                "charging_state": tx.charging_state}

    def transaction_on(self, evse_id: int) -> str | None:
        """The transactionId running on an EVSE."""
        tx = self.open.get(evse_id)
        return tx.transaction_id if tx is not None else None

    # --- RequestStartTransaction / RequestStopTransaction (firmware/ocpp/v201/remote.py) --------------
    def remote_start(self, cid: int, remote_start_id: int) -> None:
        """F01.FR.25, F02.FR.01/21: the next event of this EVSE's transaction carries the remoteStartId."""
        self._evse[cid].remote_start_id = remote_start_id

    def remote_started(self, cid: int, id_tag: str, started: bool) -> None:
        """The core's answer to the remote start: refused (the remoteStartId is dropped), a session, or an
        authorization waiting for the EV (reported like a token presented first, E03 / F02.FR.13)."""
        e = self._evse[cid]
        if not started:
            e.remote_start_id = None
        elif e.session_id is None and self.station.session_of(cid) is None:
            e.pending_tag = id_tag
            self._evaluate(cid, self.clock.now(), "RemoteStart")

    def end_for_reset(self, cid: int) -> None:
        """B11/B12 Immediate: the transaction on `cid` ends now (ResetCommand, ImmediateReset), with its
        session if it has one, whatever TxStopPoint says (the station restarts)."""
        self.station.stop_session(cid, StopReason.HARD_RESET)  # the core's SessionStopped ends it ...
        tx = self.open.get(cid)
        if tx is not None:  # ... unless it has no session (begun at the cable) or its stop point holds on
            self._end(tx, self.clock.now(), *STOPS[StopReason.HARD_RESET])

    @property
    def ending(self) -> bool:
        """An Ended waits for its signed end before it is queued."""
        return bool(self._endings)

    def remote_stop(self, cid: int) -> None:
        """F03: the core stops the session (RemoteStop / Remote); a transaction without a session (started
        at the cable, never authorized) has no energy offer to stop: an Updated RemoteStop says so
        (F03.FR.02), and it ends when its stop point no longer holds."""
        if not self.station.stop_session(cid, StopReason.REMOTE):
            self._evaluate(cid, self.clock.now(), "RemoteStop", "Remote")

    def transaction_of(self, transaction_id: str) -> int | None:
        """The EVSE a running transaction is on."""
        for cid, tx in self.open.items():
            if tx.transaction_id == transaction_id:
                return cid
        return None

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **kwargs: Any) -> Any:
        """E14: ongoingIndicator only when a transaction was named (E14.FR.01-03, 06); messagesInQueue for
        that transaction, or for any transaction when none was named (E14.FR.04/05, 07/08): queued
        SecurityEventNotifications are not transaction messages."""
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=self.outbox.session_depth() > 0)
        queued = self.outbox.durable_depth(transaction_id) > 0
        return call_result.GetTransactionStatus(messages_in_queue=queued,
                                                ongoing_indicator=bool(self.store.ongoing(transaction_id)))
