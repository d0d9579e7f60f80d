"""SignedMetering: runs each signing meter's begin/end sequence around the core's sessions, keeps the
signed records with the session (sessions.sqlite) and hands them to the protocol adapters.

Neutral: no OCPP here. At SessionStarted it asks an optional tariff-text provider (the price the driver
was shown, so a meter that signs a TT field signs it), then calls `begin_transaction`; at SessionStopped
(the contactor is open, the register settled) it calls `end_transaction`. Adapters that must not report the
end of a session before its signed end value exists await `end_of(session_id, connector_id)`.

A controller killed between the end of a session and the signature must not lose the signed end: the
store marks each session's signing open before the meter is asked to begin (`signing_began`) and closes
it once the end record is stored. At start every still-open signing of a session the core no longer runs
is finished: the meter is asked for the end record it holds (`stored_end`: the end command reached it),
else to end the transaction now. One lock per connector keeps begin and end (live or recovered) in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, SessionStarted, SessionStopped
from hal.clock import Clock
from hal.contract import HalError, SigningMeter, StationHardware, signing_meter
from hal.ocmf import SignedRecord, SignedTransactionRequest

log = logging.getLogger(__name__)

BEGIN, END = "Transaction.Begin", "Transaction.End"
KEEP_ENDS = 64
END_TIMEOUT_S = 60.0  # a meter may take up to 30 s to sign (SMV §2.3.1), plus the bus


@dataclass(frozen=True, slots=True)
class SignedReading:
    session_id: str
    connector_id: int
    context: str  # BEGIN or END
    record: SignedRecord
    taken_at: datetime  # when the meter was asked to sign


TariffText = Callable[[int, str | None], Awaitable[str | None]]  # (connector, idTag) -> price text
ReadingSink = Callable[[SignedReading], None]


class SignedMetering:
    def __init__(self, station: StationApi, meters: dict[int, SigningMeter], clock: Clock,
                 charge_point_id: str, store: Any = None) -> None:
        self._meters = meters
        self._clock = clock
        self._charge_point_id = charge_point_id
        self._store = store  # firmware.sessions.store.SessionStore, or None without session records
        self._keys: dict[int, str] = {}
        self._begins: dict[str, asyncio.Task[None]] = {}
        self._ends: dict[str, asyncio.Future[SignedReading | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks = {connector_id: asyncio.Lock() for connector_id in meters}
        self._station = station
        self.tariff_text: TariffText | None = None
        self.sinks: list[ReadingSink] = []
        self.key_sinks: list[Callable[[int, str], None]] = []
        self._unsubscribe = station.subscribe(self._on_event)

    @classmethod
    def from_hardware(cls, station: StationApi, hardware: StationHardware, clock: Clock,
                      charge_point_id: str, store: Any = None) -> SignedMetering | None:
        meters = {c.connector_id: m for c in hardware.connectors if (m := signing_meter(c.meter)) is not None}
        return cls(station, meters, clock, charge_point_id, store) if meters else None

    def signs(self, connector_id: int) -> bool:
        return connector_id in self._meters

    def public_key(self, connector_id: int) -> str | None:
        return self._keys.get(connector_id)

    async def start(self) -> None:
        for connector_id, meter in self._meters.items():
            try:
                key = await meter.public_key()
            except HalError as exc:
                log.error("connector %d: cannot read the signing meter's public key: %s", connector_id, exc)
                continue
            self._keys[connector_id] = key
            for sink in self.key_sinks:
                sink(connector_id, key)
        self._end_interrupted()

    def _end_interrupted(self) -> None:
        """Finish the signings a killed controller left open (before any adapter asks `end_of`)."""
        if self._store is None:
            return
        try:
            open_signings = self._store.open_signings()
        except Exception:
            log.exception("cannot read the open signings")
            return
        for session_id, connector_id in open_signings:
            running = self._station.session_of(connector_id)
            if connector_id not in self._meters or session_id in self._ends \
                    or (running is not None and str(running["id"]) == session_id):
                continue  # not ours, already being ended (PowerLoss at start), or resumed: ends later
            log.warning("session %s: finishing the signed end a previous run left open", session_id)
            self._end_future(session_id)
            self._spawn(self._finish(session_id, connector_id), f"ocmf-recover-{session_id}")

    async def stop(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def end_of(self, session_id: str, connector_id: int,
                     timeout_s: float = END_TIMEOUT_S) -> SignedReading | None:
        """The session's signed end reading: the one being made, else the stored one (e.g. signed before a
        restart); None if the meter failed, took longer than `timeout_s`, or there is none."""
        future = self._ends.get(session_id)
        if future is None:
            return self._stored_end(session_id, connector_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            log.error("session %s: no signed end reading after %g s", session_id, timeout_s)
            return None

    def _stored_end(self, session_id: str, connector_id: int) -> SignedReading | None:
        if self._store is None:
            return None
        try:
            stored = self._store.signed(session_id)
        except Exception:
            log.exception("cannot read the signed readings of session %s", session_id)
            return None
        for context, taken_at, record in stored:
            if context == END:
                return SignedReading(session_id, connector_id, END, record, taken_at)
        return None

    def _end_future(self, session_id: str) -> asyncio.Future[SignedReading | None]:
        future = self._ends.get(session_id)
        if future is None:
            future = self._ends[session_id] = asyncio.get_running_loop().create_future()
        return future

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("signed metering: %s failed", name)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted) and event.connector_id in self._meters:
            self._begins[event.session_id] = self._spawn(self._begin(event), f"ocmf-begin-{event.session_id}")
        elif isinstance(event, SessionStopped) and event.connector_id in self._meters:
            self._end_future(event.session_id)
            self._spawn(self._end(event), f"ocmf-end-{event.session_id}")

    async def _begin(self, event: SessionStarted) -> None:
        self._mark(event.session_id, event.connector_id)
        tariff = None
        if self.tariff_text is not None:
            tariff = await self.tariff_text(event.connector_id, event.id_tag)
        request = SignedTransactionRequest(event.session_id, event.id_tag, self._charge_point_id, tariff)
        async with self._locks[event.connector_id]:
            taken_at = self._clock.now()
            try:
                record = await self._meters[event.connector_id].begin_transaction(request)
            except HalError as exc:
                log.error("session %s: the signing meter refused to begin: %s", event.session_id, exc)
                return
        if record is not None:
            self._deliver(SignedReading(event.session_id, event.connector_id, BEGIN, record, taken_at))

    def _mark(self, session_id: str, connector_id: int) -> None:
        if self._store is not None:
            try:
                self._store.signing_began(session_id, connector_id, self._clock.now())
            except Exception:
                log.exception("could not mark the signing of session %s open", session_id)

    async def _end(self, event: SessionStopped) -> None:
        begin = self._begins.pop(event.session_id, None)
        if begin is not None:
            await begin
        await self._finish(event.session_id, event.connector_id)

    async def _finish(self, session_id: str, connector_id: int) -> None:
        """Get the session's signed end (stored, held by the meter, or made now), store and hand it out."""
        future = self._end_future(session_id)
        reading: SignedReading | None = None
        try:
            async with self._locks[connector_id]:
                reading = self._stored_end(session_id, connector_id)
                if reading is None:
                    taken_at = self._clock.now()
                    try:
                        record = await self._end_record(connector_id)
                    except HalError as exc:
                        log.error("session %s: no signed end reading: %s", session_id, exc)
                    else:
                        reading = SignedReading(session_id, connector_id, END, record, taken_at)
                        self._deliver(reading)
                if self._store is not None:
                    with contextlib.suppress(Exception):
                        self._store.signing_ended(session_id)
        finally:
            if not future.done():
                future.set_result(reading)
            while len(self._ends) > KEEP_ENDS:  # answered ones are kept a while for late askers
                self._ends.pop(next(iter(self._ends)))

    async def _end_record(self, connector_id: int) -> SignedRecord:
        """The end record the meter holds (the end command reached it before a restart) unless it is one
        already stored (a previous session's), else a new one."""
        meter = self._meters[connector_id]
        held = await meter.stored_end()
        if held is not None and not self._known(held):
            return held
        return await meter.end_transaction()

    def _known(self, record: SignedRecord) -> bool:
        if self._store is None:
            return False
        try:
            return bool(self._store.holds_record(record.data))
        except Exception:
            log.exception("cannot look up a signed record")
            return False

    def _deliver(self, reading: SignedReading) -> None:
        if self._store is not None:
            try:
                self._store.add_signed(reading.session_id, reading.context, reading.taken_at, reading.record)
            except Exception:  # a full SD card must not lose the reading for the CSMS
                log.exception("could not store the signed reading of session %s", reading.session_id)
        for sink in self.sinks:
            try:
                sink(reading)
            except Exception:
                log.exception("signed reading sink %r failed", sink)
