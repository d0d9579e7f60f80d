"""One connector's controller: the IEC 61851 charging state machine (built with `transitions`).

States are the charger's own connector states (vocabulary.ConnectorState). Every input (CP reading,
fault, token, limit, command) updates the controller's facts and fires the single trigger `update`, whose
transitions are an ordered rule list: the first rule whose condition holds names the state. Entering a
state only changes what the controller *asks* of the hardware; the SafetyInterlock decides whether the
contactor may close and opens it on its own when anything becomes unsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from transitions import Machine

from firmware.core.arbiter import CurrentArbiter
from firmware.core.authorization import Reservation
from firmware.core.derating import STOP_LEVEL, derated_current, next_level
from firmware.core.duty import duty_for_limit
from firmware.core.events import (
    ContactorChanged,
    CoreEvent,
    FaultChanged,
    LimitChanged,
    MeterSampled,
    OfferChanged,
    PilotChanged,
    SessionStarted,
    SessionStopped,
    StatusChanged,
)
from firmware.core.interlock import FEEDBACK_TIMEOUT_S, InterlockNotice, SafetyInterlock
from firmware.core.journal import CoreJournal, JournaledSession
from firmware.core.published import error_label, status_label
from firmware.core.session import PendingAuthorization, Session
from firmware.core.vocabulary import (
    FAULTS,
    ConnectorState,
    Fault,
    LimitSource,
    StopReason,
)
from firmware.settings import ConnectorSettings, StationSettings
from hal.clock import Clock, Timer
from hal.contract import ConnectorHardware, DigitalInput, MeterError
from hal.types import (
    CableAmpacity,
    CPState,
    IndicatorState,
    MeterReading,
    PilotOutput,
    PilotOutputMode,
    ProximityReading,
    SelfTestResult,
)

log = logging.getLogger(__name__)

# Timings, IEC 61851-1 as quoted in docs/reference/hardware.md §2 and §8.
PWM_RAISE_INTERVAL_S = 5.0  # raise the offer at most every 5 s (EVerest IEC_PWM_MAX_UPDATE_INTERVAL)
C1_TIMEOUT_S = 6.0  # PWM off but EV stays in C: open under load after 6 s (Table A.6 seq. 10.2)
OVERCURRENT_NOISE_A = 0.5  # EVerest check_soft_over_current: (signalled + 0.5 A) x 1.1 for 7 s
OVERCURRENT_TOLERANCE = 0.10
OVERCURRENT_TIMEOUT_S = 7.0
MIN_PAUSE_S = 10.0  # after a limit pause, resume no sooner (min 10 s between contactor closings, §8)
METER_FAILURES_FOR_FAULT = 3
JOURNAL_INTERVAL_S = 60.0
PEAK_JOURNAL_STEP = 1.02  # a peak power 2 % above the journaled one is written at once
# After the contactor opened, the session's final reading is taken once the meter's registers caught up
# with the last current that flowed (meters refresh them about once a second; our default poll period).
METER_SETTLE_S = 1.0
# RCM self test before each session and at least every 24 h (Easee manual, docs/reference/hardware.md §4.1).
RCM_SELFTEST_INTERVAL_S = 24 * 3600.0

PLUGGED = frozenset({CPState.B, CPState.C, CPState.D})
# Faults the interlock derives from the pilot reading.
_PILOT_FAULTS = frozenset({Fault.DIODE, Fault.CP_SHORT, Fault.PILOT_OUT_OF_RANGE, Fault.VENTILATION})


class FaultPersists(Exception):
    """A technician asked to clear a fault whose condition still holds."""
STATES = [s.value for s in ConnectorState]

_INDICATOR = {
    ConnectorState.AVAILABLE: IndicatorState.AVAILABLE,
    ConnectorState.PREPARING: IndicatorState.CONNECTED,
    ConnectorState.CHARGING: IndicatorState.CHARGING,
    ConnectorState.SUSPENDED_EV: IndicatorState.SUSPENDED,
    ConnectorState.SUSPENDED_EVSE: IndicatorState.SUSPENDED,
    ConnectorState.FINISHING: IndicatorState.CONNECTED,
    ConnectorState.RESERVED: IndicatorState.RESERVED,
    ConnectorState.UNAVAILABLE: IndicatorState.UNAVAILABLE,
    ConnectorState.FAULTED: IndicatorState.FAULT,
}


class _StatusModel:
    """The object `transitions` drives; it only carries the current state."""

    state: str


class ConnectorController:
    def __init__(
        self,
        settings: ConnectorSettings,
        station_settings: StationSettings,
        hardware: ConnectorHardware,
        clock: Clock,
        publish: Callable[[CoreEvent], None],
        journal: CoreJournal,
        emergency_stop: DigitalInput | None = None,
    ) -> None:
        self.id = settings.id
        self.settings = settings
        self._station_settings = station_settings
        self.hw = hardware
        self.clock = clock
        self._publish = publish
        self._journal = journal
        self._emergency_stop = emergency_stop
        self._loop: asyncio.AbstractEventLoop | None = None
        self.interlock = SafetyInterlock(hardware, ventilation=settings.ventilation,
                                         notify=self._notice_from_any_thread,
                                         emergency_stop=emergency_stop, supply_phases=settings.phases)
        base = {LimitSource.HARDWARE.value: settings.rated_current_a}
        if settings.max_current_a is not None:
            base[LimitSource.CONFIGURED.value] = settings.max_current_a
        if settings.cable == "tethered":
            base[LimitSource.CABLE.value] = settings.tethered_cable_current_a
        self.arbiter = CurrentArbiter(base)

        # facts
        self.cp = CPState.A  # the current CP state (decisions)
        self._cp_seen = CPState.A  # the last CP state processed in notice order (events)
        self._cp_visible = CPState.A  # the last of those that could show the car (not E/F)
        self._plug_waits = False  # plugged in under a blocking fault: the session waits for it to clear
        self._warnings: set[Fault] = set()  # non-blocking faults only the loop knows (meter offline)
        self._published_faults: set[Fault] = set()
        self._transient_faults: set[Fault] = set()  # seen active in a notice, maybe gone since
        self._operative = journal.operative(self.id)  # ChangeAvailability's, kept across restarts
        self._holds: set[str] = set()  # why no new session may start for now (not kept: a restart ends it)
        self.pending_inoperative = False
        self.session: Session | None = None
        self._ending: tuple[Session, datetime] | None = None  # finalized, final reading not yet taken
        self._ending_task: asyncio.Task[None] | None = None
        self.pending_auth: PendingAuthorization | None = None
        self.connection_timeout_s = station_settings.connection_timeout_s  # OCPP may change it
        self.reservation: Reservation | None = None
        self.finishing = False
        self.last_reading: MeterReading | None = None
        self.meter_ok = True
        self.temperature_c: float | None = None
        self._temperature_level = 0
        self._meter_failures = 0
        self._overcurrent_since: float | None = None
        self._journal_at = float("-inf")
        self._journaled_max_w = 0.0

        # offer bookkeeping (what the PWM signals)
        self.offer_amps: float | None = None  # None = paused for a limit below 6 A
        self.offer_duty: float | None = None
        self.offer_reason = ""
        self._offer_changed_at = float("-inf")
        self._paused_at = float("-inf")
        self._pause_from_pwm = False

        self._faulted_at = float("-inf")
        self._timers: dict[str, Timer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock_task: asyncio.Task[None] | None = None
        self._rcm_task: asyncio.Task[None] | None = None
        self._rcm_tested_at = float("-inf")
        self._rcm_test_owed = False  # not run while the monitor signalled: runs once the trip is cleared
        self.rcm_self_test: dict[str, Any] | None = None
        self._reported: tuple[ConnectorState, Fault | None] | None = None
        self._contactor_reported = False
        self._unsubscribe: list[Callable[[], None]] = []

        self._model = _StatusModel()
        self._machine = Machine(model=self._model, states=STATES, initial=ConnectorState.AVAILABLE.value,
                                auto_transitions=False, ignore_invalid_triggers=True)
        for dest, condition in self._rules():
            others: list[Any] = [s for s in STATES if s != dest.value]
            self._machine.add_transition("update", others, dest.value, conditions=[condition])
            self._machine.add_transition("update", dest.value, None, conditions=[condition])

    # ------------------------------------------------------------------------------------------------
    # state machine rules, in priority order
    def _rules(self) -> list[tuple[ConnectorState, Callable[[], bool]]]:
        has_session = self._has_session
        return [
            (ConnectorState.FAULTED, self.has_blocking_fault),
            (ConnectorState.UNAVAILABLE, lambda: not self.operative and not has_session()),
            (ConnectorState.SUSPENDED_EVSE, lambda: has_session() and self.offer_amps is None),
            (ConnectorState.CHARGING, lambda: has_session() and self.cp in (CPState.C, CPState.D)),
            (ConnectorState.SUSPENDED_EV, lambda: has_session() and self.cp == CPState.B),
            (ConnectorState.FINISHING, lambda: self.finishing and self.cp in PLUGGED),
            (ConnectorState.PREPARING, lambda: self.cp in PLUGGED or self.pending_auth is not None),
            (ConnectorState.RESERVED, lambda: self.reservation is not None),
            (ConnectorState.AVAILABLE, lambda: True),
        ]

    def _has_session(self) -> bool:
        return self.session is not None

    @property
    def state(self) -> ConnectorState:
        return ConnectorState(self._model.state)

    def has_blocking_fault(self) -> bool:
        return any(FAULTS[f].blocking for f in self.faults)

    @property
    def plugged(self) -> bool:
        return self.cp in PLUGGED

    # ------------------------------------------------------------------------------------------------
    # lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.interlock.attach()
        self.cp = self._cp_seen = self.interlock.reading.state
        if self.cp not in (CPState.E, CPState.F):
            self._cp_visible = self.cp
        self._sync_faults()
        self._unsubscribe.append(self.hw.contactor.subscribe_feedback(self._feedback_from_any_thread))
        if self.hw.contactor.feedback_closed:
            self._set_fault(Fault.CONTACTOR_WELDED, True)  # start-up consistency check
        if self.hw.proximity is not None and self.settings.cable == "socket":
            self._unsubscribe.append(self.hw.proximity.subscribe(self._pp_from_any_thread))
            self._on_proximity(self.hw.proximity.read())
        await self._read_meter()
        self._spawn(self._meter_loop())
        if self.hw.temperature is not None:
            self._spawn(self._temperature_loop())
        if self.hw.rcm is not None:
            self._spawn(self._rcm_periodic())
        self.reconcile()

    async def stop(self) -> None:
        self.report_ending()  # an orderly shutdown does not lose a stop waiting for its final reading
        self._loop = None  # notices still queued on the loop are dropped from here on
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        tasks += [t for t in (self._lock_task, self._rcm_task) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.interlock.detach()
        self.interlock.set_pilot(PilotOutput(PilotOutputMode.HIGH))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, name: str, delay: float, action: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(name, None)
            action()

        self._timers[name] = self.clock.call_later(delay, fire)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    # ------------------------------------------------------------------------------------------------
    # inputs arriving from hardware threads hop onto the loop
    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop shutting down
            loop.call_soon_threadsafe(fn, *args)

    def _notice_from_any_thread(self, notice: InterlockNotice) -> None:
        self._call_on_loop(self._on_notice, notice)

    def _feedback_from_any_thread(self, closed: bool) -> None:
        self._call_on_loop(self._on_feedback, closed)

    def _pp_from_any_thread(self, reading: ProximityReading) -> None:
        # like CP notices, PP ones may be stale on arrival: the loop re-reads the current value
        self._call_on_loop(self._on_proximity_changed)

    def _on_proximity_changed(self) -> None:
        if self.hw.proximity is not None:
            self._on_proximity(self.hw.proximity.read())

    def _on_notice(self, notice: InterlockNotice) -> None:
        """Something happened at the interlock. A busy loop may get several notices late, so events
        (plug, unplug, a fault that came and went) are taken from the notices in order, while the
        decision of what to drive uses the interlock's current facts."""
        if self._loop is None:
            return
        if notice.fault is not None and notice.fault_active:
            self._transient_faults.add(notice.fault)
            if notice.fault == Fault.EMERGENCY_STOP and self.session is not None \
                    and self.session.stopping is None:
                self._stop(StopReason.EMERGENCY_STOP, None)
        if notice.reading is not None:
            self._on_cp_event(notice.reading.state)
        self._sync_faults()
        self.cp = self.interlock.reading.state
        self.reconcile()

    def _on_cp_event(self, state: CPState) -> None:
        previous, self._cp_seen = self._cp_seen, state
        if state == previous:
            return
        self._publish(PilotChanged(self.id, state, self.clock.now()))
        if state in (CPState.E, CPState.F):
            return
        # E/F readings while we signal a fault or unavailability say nothing about the cable: a plug-in is
        # A -> B/C/D between the states that can show the car (the car reappearing after F is the same car
        # if it was there before; one seen after A-then-F was plugged in meanwhile).
        visible, self._cp_visible = self._cp_visible, state
        if visible == CPState.A and state in PLUGGED:
            self.cp = state
            self._on_plugged()
        elif state == CPState.A:
            self.cp = state
            self._on_unplugged()

    def _on_plugged(self) -> None:
        self.finishing = False
        if self.hw.proximity is not None and self.settings.cable == "socket":
            self._on_proximity(self.hw.proximity.read())
        self._start_for_plug()

    def _start_for_plug(self) -> None:
        """The car plugged in starts its session, unless a blocking fault holds (a latched RCD trip, say):
        then no session starts (its RCM self test would run against the tripped monitor) until the fault
        is gone, by itself or by a technician's clear, with the car still plugged in (reconcile)."""
        if self.has_blocking_fault():
            self._plug_waits = True
            return
        self._plug_waits = False
        pending = self.pending_auth
        if pending is not None and self.clock.monotonic() <= pending.expires_at:
            self.pending_auth = None
            self._cancel("pending_auth")
            self._start_session(pending.id_tag, pending.parent_id_tag)
        elif self.auto_start and self.operative and self.reservation is None:
            self._start_session(None, None)

    def _on_unplugged(self) -> None:
        self.finishing = False
        self._plug_waits = False
        if self.settings.cable == "socket":
            self.arbiter.set(LimitSource.CABLE.value, None)  # the next cable brings its own coding
        self._overcurrent_since = None
        if self.session is not None:
            if self.session.stopping is None:
                self.session.stopping = StopReason.EV_DISCONNECTED
            self._finalize_session()
        self._release_lock()

    def _on_feedback(self, closed: bool) -> None:
        """The mirror contact moved. It is supervised in every state: closed while the contactor is commanded
        open (welded, or closing by itself in A/B), open while commanded closed (dropped out under load).
        The notice may be stale (the interlock switched a moment ago), so only a re-check of the current
        state after the feedback window decides."""
        if self._loop is None:
            return
        if closed and not self.hw.contactor.commanded_closed:
            self._later("weld_check", FEEDBACK_TIMEOUT_S, self._check_weld)
        elif not closed and self.hw.contactor.commanded_closed:
            self._later("feedback_check", FEEDBACK_TIMEOUT_S, self._check_feedback)
        self.reconcile()  # the safety supervisor may have switched on its own (watchdog)

    def _on_proximity(self, reading: ProximityReading) -> None:
        if self._loop is None:
            return
        ampacity = reading.ampacity
        if ampacity == CableAmpacity.A63 and self.settings.phases == 1:
            limit = 70.0  # 63 A (3-ph) / 70 A (1-ph) coding (docs/reference/hardware.md §3)
        else:
            limit = float(ampacity)
        # No coding resistor found while plugged: 0 A, the EV is not offered anything (EVerest rule).
        if ampacity == CableAmpacity.NONE and not self.plugged:
            self.arbiter.set(LimitSource.CABLE.value, None)
        else:
            self.arbiter.set(LimitSource.CABLE.value, limit)
        self.reconcile()

    # ------------------------------------------------------------------------------------------------
    # faults
    @property
    def faults(self) -> set[Fault]:
        """Every active fault: the interlock's (safety) plus the loop's warnings."""
        return set(self.interlock.faults) | self._warnings

    def _sync_faults(self) -> set[Fault]:
        """Publish what changed since the last call; returns the faults that became active."""
        current = self.faults
        seen = current | self._transient_faults
        self._transient_faults.clear()
        appeared = seen - self._published_faults
        now = self.clock.now()
        for fault in sorted(appeared):
            self._publish(FaultChanged(self.id, fault, True, now))
            log.warning("connector %s fault %s: %s", self.id, fault.value, FAULTS[fault].description)
        for fault in sorted((self._published_faults | appeared) - current):
            self._publish(FaultChanged(self.id, fault, False, now))
            log.info("connector %s fault %s cleared", self.id, fault.value)
        self._published_faults = current
        return appeared

    def _set_warning(self, fault: Fault, active: bool) -> None:
        (self._warnings.add if active else self._warnings.discard)(fault)
        self._sync_faults()

    def _set_fault(self, fault: Fault, active: bool) -> None:
        """A fault found on the loop side: tell the interlock (it opens at once) and record it."""
        if active:
            self.interlock.raise_fault(fault)
        else:
            self.interlock.clear_fault(fault)
        self._sync_faults()

    def clear_fault(self, fault: Fault) -> bool:
        """Technician clear of a fault (e.g. welded contactor after repair). The condition that set it is
        checked again first: while it persists the fault stays and FaultPersists says why."""
        if fault not in self.faults:
            return False
        persists = self._fault_condition(fault)
        if persists is not None:
            raise FaultPersists(f"connector {self.id}: {fault.value} not cleared: {persists}")
        self._set_fault(fault, False)
        if fault == Fault.RCD_SELFTEST or (fault == Fault.RCD_TRIP and self._rcm_test_owed):
            self._run_rcm_self_test()  # the repaired / reset monitor proves itself before the next closing
        self.reconcile()
        return True

    def _fault_condition(self, fault: Fault) -> str | None:
        """Why `fault` still holds now, or None when the hardware no longer shows it."""
        contactor = self.hw.contactor
        if fault in (Fault.CONTACTOR_WELDED, Fault.CONTACTOR_FEEDBACK) \
                and contactor.feedback_closed and not contactor.commanded_closed:
            return ("the contactor's feedback contact still reads closed while the contactor is commanded "
                    "open (contacts welded, or the feedback wiring is wrong); the socket may be live. "
                    "Isolate and repair, then clear again")
        if fault == Fault.RCD_TRIP and self.hw.rcm is not None and self.hw.rcm.tripped:
            return "the residual current monitor still signals a fault current; find its cause first"
        if fault == Fault.EMERGENCY_STOP and self._emergency_stop is not None and self._emergency_stop.active:
            return "the emergency stop is still pressed; release it (it clears by itself then)"
        if fault == Fault.OVER_TEMPERATURE and self._temperature_level == STOP_LEVEL:
            return f"the temperature ({self.temperature_c} °C) is still above the stop threshold"
        if fault == Fault.METER_OFFLINE:
            return "the meter warning clears by itself with the meter's next good answer"
        if fault in _PILOT_FAULTS and self.interlock.pilot_fault_persists(fault):
            return f"the control pilot still shows it (CP {self.interlock.reading.state.value})"
        return None

    def leading_fault(self) -> tuple[Fault | None, str | None]:
        """The fault the connector reports (blocking ones first, then in Fault order) and its info text."""
        ordered = sorted(self.faults, key=lambda f: (not FAULTS[f].blocking, list(Fault).index(f)))
        if not ordered:
            return None, None
        return ordered[0], f"{ordered[0].value}: {FAULTS[ordered[0]].description}"[:50]

    # ------------------------------------------------------------------------------------------------
    # sessions
    auto_start = True

    def _start_session(self, id_tag: str | None, parent: str | None) -> None:
        self.report_ending()  # the previous session's stop is reported before this one starts
        reading_wh = self.last_reading.energy_import_wh if self.last_reading else 0.0
        reservation_id = self.reservation.reservation_id if self.reservation else None
        self.reservation = None
        self._cancel("reservation")
        session = Session(self.id, id_tag, parent, self.clock.now(), reading_wh,
                          reservation_id=reservation_id)
        self.session = session
        self.finishing = False
        self._journal.session_started(JournaledSession(
            self.id, session.session_id, id_tag, parent, session.started_at, reading_wh, reading_wh,
            session.started_at, reservation_id))
        self._journal_at = self.clock.monotonic()
        self._journaled_max_w = 0.0
        self._publish(SessionStarted(self.id, session.session_id, id_tag, reading_wh,
                                     session.started_at, reservation_id))
        self._ensure_locked()
        self._run_rcm_self_test()

    def resume_session(self, saved: JournaledSession) -> None:
        """Continue a session that a power cut interrupted (power_loss_policy = resume)."""
        self.session = Session(self.id, saved.id_tag, saved.parent_id_tag, saved.started_at,
                               saved.meter_start_wh, session_id=saved.session_id,
                               reservation_id=saved.reservation_id, last_meter_wh=saved.last_meter_wh,
                               max_power_w=saved.max_power_w)
        self._journaled_max_w = saved.max_power_w
        self._ensure_locked()
        self._run_rcm_self_test()  # before every session, a resumed one too (else it never closes)
        self.reconcile()

    def authorize(self, id_tag: str, parent: str | None) -> None:
        """An accepted token (local or remote): start now if plugged, else wait for the plug."""
        if self.plugged:
            self._start_session(id_tag, parent)
        else:
            timeout = self.connection_timeout_s
            self.pending_auth = PendingAuthorization(id_tag, parent, self.clock.monotonic() + timeout)
            self._later("pending_auth", timeout, self._expire_pending)
        self.reconcile()

    def _expire_pending(self) -> None:
        self.pending_auth = None
        self.reconcile()

    def cancel_pending(self) -> bool:
        if self.pending_auth is None:
            return False
        self.pending_auth = None
        self._cancel("pending_auth")
        self.reconcile()
        return True

    def stop_session(self, reason: StopReason, id_tag: str | None = None) -> bool:
        if self.session is None or self.session.stopping is not None:
            return False
        self._stop(reason, id_tag)
        self.reconcile()
        return True

    def _stop(self, reason: StopReason, id_tag: str | None) -> None:
        assert self.session is not None
        self.session.stopping = reason
        self.session.stop_id_tag = id_tag

    def _finalize_session(self) -> None:
        """The session is over (the contactor is open): free the connector now; SessionStopped follows
        with the meter read once it settled, so no energy falls between two transactions."""
        session = self.session
        if session is None:
            return
        self.session = None
        self._cancel("c1")
        self.arbiter.set(LimitSource.AUTHORIZATION.value, None)
        self.report_ending()  # a previous one still settling (cannot happen in practice) goes first
        self._ending = (session, self.clock.now())
        self._ending_task = asyncio.ensure_future(self._settle_and_report())
        # The car is still there unless the pilot went to A: F or E (our own fault signalling, e.g. an
        # emergency stop that reached the pilot before its notice ended the session) says nothing.
        self.finishing = self._cp_seen != CPState.A
        if self.pending_inoperative:
            self.pending_inoperative = False
            self._set_operative(False)
        self._release_lock()

    async def _settle_and_report(self) -> None:
        await self.clock.sleep(METER_SETTLE_S)
        self._ending_task = None
        reading = None
        try:
            reading = await self.hw.meter.read()
        except Exception as exc:  # MeterError, or a driver bug: the stop must be reported whatever happens
            log.warning("connector %s: final meter reading failed (%s); using the last one", self.id, exc)
        self.report_ending(reading)

    def report_ending(self, reading: MeterReading | None = None) -> None:
        """Publish the SessionStopped of the finalized session (at once when a new session or the shutdown
        cannot wait for the settled reading: then with the last reading)."""
        ending, self._ending = self._ending, None
        if ending is None:
            return
        if self._ending_task is not None:
            self._ending_task.cancel()
            self._ending_task = None
        session, stopped_at = ending
        if reading is not None:
            self.last_reading = reading
        meter_wh = self.last_reading.energy_import_wh if self.last_reading and (
            self.meter_ok or reading is not None) else session.last_meter_wh
        session.last_meter_wh = max(session.last_meter_wh, meter_wh)
        self._journal.session_ended(self.id)
        self._publish(SessionStopped(self.id, session.session_id, session.stopping or StopReason.OTHER,
                                     session.last_meter_wh, stopped_at, session.stop_id_tag,
                                     session.id_tag, session.started_at, session.meter_start_wh,
                                     session.max_power_w))

    # ------------------------------------------------------------------------------------------------
    # lock
    def _ensure_locked(self) -> None:
        lock = self.hw.lock
        if lock is None or self._lock_task is not None:
            return
        self._lock_task = asyncio.ensure_future(self._do_lock())

    async def _do_lock(self) -> None:
        assert self.hw.lock is not None
        try:
            ok = await self.hw.lock.lock()
        except Exception:
            log.exception("connector %s: lock driver failed", self.id)
            ok = False
        finally:
            self._lock_task = None
        if self.session is None:
            return
        self.interlock.set_lock_confirmed(ok)
        if not ok:
            self._set_fault(Fault.LOCK, True)
        self.reconcile()

    def _release_lock(self) -> None:
        self.interlock.set_lock_confirmed(False)
        if self.hw.lock is not None and not self.hw.contactor.commanded_closed:
            self._spawn(self._do_unlock())
        if Fault.LOCK in self.faults and not self.plugged:
            self._set_fault(Fault.LOCK, False)

    async def _do_unlock(self) -> bool:
        assert self.hw.lock is not None
        try:
            return await self.hw.lock.unlock()
        except Exception:
            log.exception("connector %s: unlock failed", self.id)
            return False

    async def unlock(self) -> bool | None:
        """Unlock on request (None = no lock fitted: nothing to do, a running session goes on).
        Stops a running session first."""
        if self.hw.lock is None:
            return None
        if self.session is not None:
            self.stop_session(StopReason.UNLOCK_COMMAND)
            self.interlock.request_open("unlock")
            self._finalize_session()
            self.reconcile()
        return await self._do_unlock()

    # ------------------------------------------------------------------------------------------------
    # residual current monitor self test
    def _run_rcm_self_test(self) -> None:
        if self.hw.rcm is None or self._rcm_task is not None or self.hw.contactor.commanded_closed:
            return
        self.interlock.set_rcm_ready(False)
        if Fault.RCD_TRIP in self.faults:  # a monitor that signals cannot be tested: after the clear
            self._rcm_test_owed = True
            return
        self._rcm_test_owed = False
        self._rcm_task = asyncio.ensure_future(self._do_rcm_self_test())

    async def _do_rcm_self_test(self) -> None:
        assert self.hw.rcm is not None
        try:
            result = await self.hw.rcm.self_test()
        except Exception as exc:
            log.exception("connector %s: RCM self test crashed", self.id)
            result = SelfTestResult(False, f"self test crashed: {exc}")
        finally:
            self._rcm_task = None
        self._rcm_tested_at = self.clock.monotonic()
        self.rcm_self_test = {"at": self.clock.now().isoformat().replace("+00:00", "Z"),
                              "passed": result.passed, "detail": result.detail}
        if result.passed:
            self.interlock.set_rcm_ready(True)
        elif result.monitor_tripped:
            # The monitor signalled before the test (with the safety supervisor the trip can reach the
            # test before its notice reaches us): that is the trip, latched; the test runs after the clear.
            log.warning("connector %s: RCM self test not run: %s", self.id, result.detail)
            self._rcm_test_owed = True
            self._set_fault(Fault.RCD_TRIP, True)
        else:
            log.error("connector %s: RCM self test failed: %s", self.id, result.detail)
            self._set_fault(Fault.RCD_SELFTEST, True)
        self.reconcile()

    async def _rcm_periodic(self) -> None:
        """Test at start-up, then whenever 24 h have passed and no power flows."""
        while True:
            due = self.clock.monotonic() - self._rcm_tested_at >= RCM_SELFTEST_INTERVAL_S
            if due and self.session is None:
                self._run_rcm_self_test()
            await self.clock.sleep(3600.0)

    # ------------------------------------------------------------------------------------------------
    # availability and reservation
    def set_operative(self, operative: bool) -> str:
        if not operative and self.session is not None:
            self.pending_inoperative = True
            return "Scheduled"
        self.pending_inoperative = False
        self._set_operative(operative)
        self.reconcile()
        return "Accepted"

    def _set_operative(self, operative: bool) -> None:
        if operative != self._operative:
            self._operative = operative
            self._journal.set_operative(self.id, operative)

    @property
    def operative(self) -> bool:
        """May a new session start here: set operative, and no hold on new sessions."""
        return self._operative and not self._holds

    def hold_new_sessions(self, reason: str, held: bool) -> None:
        """Hold new sessions for `reason` (or lift that hold): idle, the connector is Unavailable; a
        running session goes on and the connector is Unavailable after it. Not kept across a restart."""
        if held:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        self.reconcile()

    def reserve(self, reservation: Reservation) -> str:
        if self.has_blocking_fault():
            return "Faulted"
        if not self.operative:
            return "Unavailable"
        if self.session is not None or self.plugged or self.pending_auth is not None:
            return "Occupied"
        if self.reservation is not None and self.reservation.reservation_id != reservation.reservation_id:
            return "Occupied"
        self.reservation = reservation
        delay = reservation.expires_at_monotonic - self.clock.monotonic()
        self._later("reservation", delay, lambda: self._expire_reservation(reservation.reservation_id))
        self.reconcile()
        return "Accepted"

    def _expire_reservation(self, reservation_id: int) -> None:
        self.cancel_reservation(reservation_id)

    def cancel_reservation(self, reservation_id: int) -> bool:
        if self.reservation is None or self.reservation.reservation_id != reservation_id:
            return False
        self.reservation = None
        self._cancel("reservation")
        self.reconcile()
        return True

    # ------------------------------------------------------------------------------------------------
    # limits
    def set_limit(self, source: str, amps: float | None) -> None:
        if self._limit(source, amps):
            self.reconcile()

    def _limit(self, source: str, amps: float | None) -> bool:
        """Set or clear an arbiter input and tell the listeners; whether anything changed."""
        changed = self.arbiter.set(source, amps)
        if changed:
            self._publish(LimitChanged(self.id, source, amps, self.clock.now()))
        return changed

    def _update_offer(self) -> None:
        decision = self.arbiter.decide()
        target = duty_for_limit(decision.amps, self.hw.pilot.duty_resolution_percent)
        now = self.clock.monotonic()
        pwm_on = self.interlock.pilot_output.mode == PilotOutputMode.PWM
        self.offer_reason = decision.reason
        before = (self.offer_amps, self.offer_duty)
        if target is None:
            if self.offer_amps is not None:
                self._pause_from_pwm = pwm_on
                self.offer_amps, self.offer_duty = None, None
                self._paused_at = now
        else:
            duty, amps = target
            if self.offer_amps is None:
                ready = self._paused_at + MIN_PAUSE_S if self._pause_from_pwm else now
                ready = max(ready, self._offer_changed_at + PWM_RAISE_INTERVAL_S if pwm_on else now)
                if now >= ready:
                    self.offer_amps, self.offer_duty = amps, duty
                else:
                    self._later("offer", ready - now, self.reconcile)
            elif amps < self.offer_amps or not pwm_on:
                self.offer_amps, self.offer_duty = amps, duty
            elif amps > self.offer_amps:
                ready = self._offer_changed_at + PWM_RAISE_INTERVAL_S
                if now >= ready:
                    self.offer_amps, self.offer_duty = amps, duty
                else:
                    self._later("offer", ready - now, self.reconcile)
        if (self.offer_amps, self.offer_duty) != before:
            self._offer_changed_at = now
            self._publish(OfferChanged(self.id, self.offer_amps or 0.0, self.offer_duty,
                                       self.offer_reason, self.clock.now()))

    # ------------------------------------------------------------------------------------------------
    # the heart: decide the state, then what to ask of the hardware
    def reconcile(self) -> None:
        if self._loop is None:
            return
        if self._plug_waits and not self.has_blocking_fault():
            self._start_for_plug()  # the fault the plug-in waited for is gone; the car is still there
        self._update_offer()
        session = self.session
        if session is not None and session.stopping is not None \
                and not self.hw.contactor.commanded_closed:
            self._finalize_session()
        previous = self.state
        self._model.update()  # type: ignore[attr-defined]
        status = self.state
        if status != previous and status == ConnectorState.FAULTED:
            self._faulted_at = self.clock.monotonic()
        self._drive_outputs(status)
        if self.session is not None and self.session.stopping is not None \
                and not self.hw.contactor.commanded_closed:
            self._finalize_session()
            self._model.update()  # type: ignore[attr-defined]
            status = self.state
            self._drive_outputs(status)
        self._report(status)

    def _desired_pilot(self, status: ConnectorState) -> PilotOutput:
        stopping = self.session is not None and self.session.stopping is not None
        if status == ConnectorState.FAULTED:
            remaining = self._faulted_at + self.settings.state_f_after_fault_ms / 1000 \
                - self.clock.monotonic()
            if remaining > 0:
                self._later("state_f", remaining, self.reconcile)
                return PilotOutput(PilotOutputMode.NEGATIVE, 0.0)
            return PilotOutput(PilotOutputMode.HIGH)
        if status == ConnectorState.UNAVAILABLE:
            return PilotOutput(PilotOutputMode.NEGATIVE, 0.0)
        if status in (ConnectorState.CHARGING, ConnectorState.SUSPENDED_EV) and not stopping \
                and self.offer_duty is not None:
            return PilotOutput.pwm(self.offer_duty)
        return PilotOutput(PilotOutputMode.HIGH)

    def _drive_outputs(self, status: ConnectorState) -> None:
        self.interlock.set_pilot(self._desired_pilot(status))
        pwm_on = self.interlock.pilot_output.mode == PilotOutputMode.PWM
        wants_power = status == ConnectorState.CHARGING and pwm_on
        contactor = self.hw.contactor
        if wants_power:
            self._cancel("c1")
            if self.hw.lock is not None and not self.interlock.may_close():
                self._ensure_locked()
            was_closed = contactor.commanded_closed
            if self.interlock.request_close() and not was_closed:
                self._later("feedback_check", FEEDBACK_TIMEOUT_S, self._check_feedback)
        elif contactor.commanded_closed and self.cp in (CPState.C, CPState.D) \
                and status in (ConnectorState.CHARGING, ConnectorState.SUSPENDED_EVSE):
            # C1: PWM is off but the EV still draws; give it 6 s to go to B before opening under load.
            if "c1" not in self._timers:
                self._later("c1", C1_TIMEOUT_S, self._c1_timeout)
        else:
            self._cancel("c1")
            self.interlock.request_open("controller")
        self._sync_contactor_event()
        if self.hw.indicator is not None:
            self.hw.indicator.show(_INDICATOR[status])

    def _c1_timeout(self) -> None:
        log.warning("connector %s: EV stayed in C for %.0f s without PWM; opening under load",
                    self.id, C1_TIMEOUT_S)
        self.interlock.request_open("c1-timeout")
        self.reconcile()

    def _sync_contactor_event(self) -> None:
        closed = self.hw.contactor.commanded_closed
        if closed == self._contactor_reported:
            return
        self._contactor_reported = closed
        self._publish(ContactorChanged(self.id, closed, self.clock.now()))
        if not closed:
            self._cancel("feedback_check")
            self._later("weld_check", FEEDBACK_TIMEOUT_S, self._check_weld)

    def _feedback_unsettled(self, name: str, check: Callable[[], None]) -> bool:
        """A contactor driven through the safety supervisor whose command has not been executed yet (the
        simulated one lives behind a link): judge its feedback later."""
        if getattr(self.hw.contactor, "feedback_settled", True):
            return False
        self._later(name, FEEDBACK_TIMEOUT_S, check)
        return True

    def _check_weld(self) -> None:
        if self._feedback_unsettled("weld_check", self._check_weld):
            return
        if not self.hw.contactor.commanded_closed and self.hw.contactor.feedback_closed:
            self._set_fault(Fault.CONTACTOR_WELDED, True)
            self.reconcile()

    def _check_feedback(self) -> None:
        if self._feedback_unsettled("feedback_check", self._check_feedback):
            return
        if self.hw.contactor.commanded_closed and self.hw.contactor.feedback_closed is False:
            self._set_fault(Fault.CONTACTOR_FEEDBACK, True)
            self.reconcile()

    def _report(self, status: ConnectorState) -> None:
        fault, info = self.leading_fault()
        if self._reported == (status, fault):
            return
        self._reported = (status, fault)
        self._publish(StatusChanged(self.id, status, fault, info, self.clock.now()))

    # ------------------------------------------------------------------------------------------------
    # periodic work
    async def _meter_loop(self) -> None:
        interval = self._station_settings.meter_poll_interval_s
        while True:
            await self.clock.sleep(interval)
            await self._read_meter()

    async def _read_meter(self) -> None:
        try:
            reading = await self.hw.meter.read()
        except MeterError as exc:
            self._meter_failures += 1
            if self._meter_failures >= METER_FAILURES_FOR_FAULT and self.meter_ok:
                log.warning("connector %s: meter offline: %s", self.id, exc)
                self.meter_ok = False
                self._set_warning(Fault.METER_OFFLINE, True)
                self.reconcile()
            return
        self._meter_failures = 0
        self.last_reading = reading
        if not self.meter_ok:
            self.meter_ok = True
            self._set_warning(Fault.METER_OFFLINE, False)
            self.reconcile()
        session = self.session
        now = self.clock.monotonic()
        if session is not None:
            session.last_meter_wh = max(session.last_meter_wh, reading.energy_import_wh)
            session.max_power_w = max(session.max_power_w, reading.total_power_w)
            # A new peak is journaled at once (it rises a few times per session), energy every minute.
            if now - self._journal_at >= JOURNAL_INTERVAL_S or \
                    session.max_power_w > self._journaled_max_w * PEAK_JOURNAL_STEP:
                self._journal_at = now
                self._journaled_max_w = session.max_power_w
                self._journal.meter_progress(self.id, session.last_meter_wh, self.clock.now(),
                                             session.max_power_w)
        self._check_overcurrent(reading, now)
        self._publish(MeterSampled(self.id, reading, self.clock.now(),
                                   session.session_id if session else None))

    def _check_overcurrent(self, reading: MeterReading, now: float) -> None:
        if not self.hw.contactor.commanded_closed or not reading.current_a:
            self._overcurrent_since = None
            return
        signalled = self.offer_amps if self.interlock.pilot_output.mode == PilotOutputMode.PWM else 0.0
        limit = ((signalled or 0.0) + OVERCURRENT_NOISE_A) * (1 + OVERCURRENT_TOLERANCE)
        if max(reading.current_a) <= limit:
            self._overcurrent_since = None
            return
        if self._overcurrent_since is None:
            self._overcurrent_since = now
        elif now - self._overcurrent_since >= OVERCURRENT_TIMEOUT_S:
            log.warning("connector %s: EV draws %.1f A, allowed %.1f A", self.id,
                        max(reading.current_a), limit)
            self._set_fault(Fault.OVER_CURRENT, True)
            self._overcurrent_since = None
            self.reconcile()

    async def _temperature_loop(self) -> None:
        assert self.hw.temperature is not None
        cfg = self.settings.temperature
        while True:
            try:
                celsius = await self.hw.temperature.read_celsius()
            except Exception as exc:
                log.warning("connector %s: temperature sensor failed: %s", self.id, exc)
            else:
                self.apply_temperature(celsius)
            await self.clock.sleep(cfg.poll_interval_s)

    def apply_temperature(self, celsius: float) -> None:
        self.temperature_c = celsius
        level = next_level(celsius, self._temperature_level, self.settings.temperature)
        if level == self._temperature_level:
            return
        self._temperature_level = level
        if level == STOP_LEVEL:
            self._set_fault(Fault.OVER_TEMPERATURE, True)
        else:
            if Fault.OVER_TEMPERATURE in self.faults:
                self._set_fault(Fault.OVER_TEMPERATURE, False)
            self._limit(LimitSource.TEMPERATURE.value, derated_current(level, self.settings.rated_current_a))
        self.reconcile()

    # ------------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        reading = self.interlock.reading
        output = self.interlock.pilot_output
        fault, _ = self.leading_fault()
        meter: dict[str, Any] = {"ok": self.meter_ok}
        if self.last_reading is not None:
            r = self.last_reading
            meter.update(energy_wh=round(r.energy_import_wh, 1), voltage_v=list(r.voltage_v),
                         current_a=list(r.current_a), power_w=list(r.power_w),
                         power_total_w=round(r.total_power_w, 1))
        lock = self.hw.lock
        decision = self.arbiter.decide()
        return {
            "id": self.id,
            "status": status_label(self.state),
            "state": self.state.value,
            "error_code": error_label(fault),
            "vendor_error_code": FAULTS[fault].vendor_code if fault is not None else None,
            "cp_state": reading.state.value,
            "cp_positive_v": round(reading.positive_v, 2),
            "cp_negative_v": round(reading.negative_v, 2),
            "pilot_mode": output.mode.value,
            "pwm_duty_percent": round(output.duty_percent, 2) if output.mode == PilotOutputMode.PWM
            else None,
            "offered_a": round(self.offer_amps, 2) if self.offer_amps is not None else 0.0,
            "limit_a": round(decision.amps, 2),
            "limit_reason": decision.reason,
            "limits": {k: round(v, 2) for k, v in self.arbiter.limits.items()},
            "contactor": {"closed": self.hw.contactor.commanded_closed,
                          "feedback_closed": self.hw.contactor.feedback_closed},
            "phases": self.interlock.phases_in_use,
            "lock": "none" if lock is None else
            {True: "locked", False: "unlocked", None: "unknown"}[lock.locked],
            "faults": sorted(f.value for f in self.faults),
            "operative": self.operative,
            "rcm_self_test": self.rcm_self_test,
            "temperature_c": self.temperature_c,
            "meter": meter,
            "session": self.session.describe() if self.session else None,
            "reservation_id": self.reservation.reservation_id if self.reservation else None,
        }
