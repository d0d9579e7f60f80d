"""Smart charging service: keeps the installed charging profiles and enforces them on the arbiter.

* profiles come in already parsed through `install_profile` (an OCPP version package parses its
  SetChargingProfile, e.g. firmware/ocpp/v16/smart_profiles.py), go out through `clear`, and persist in
  SQLite (<state_dir>/smart_charging.sqlite3); composite schedules go out as neutral periods (`composite`);
* TxProfiles go when their session ends (core SessionStopped event), or when the transaction ends if the
  protocol keeps them for it (`hold_tx_profiles`, OCPP 2.0.1);
* enforcement: on every profile change, session change and schedule boundary, the engine's limit for each
  connector goes to `station.set_limit("smart_charging", amps, connector_id)` at once (same call);
* hysteresis: a limit below min_current_a pauses charging (the core suspends below 6 A); charging resumes
  only when the profiles allow >= min_current_a again and the pause has lasted min_pause_s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.core.events import CoreEvent, MeterSampled, SessionStarted, SessionStopped
from firmware.core.vocabulary import LimitSource
from firmware.smart import profile_set
from firmware.smart.engine import (
    ConnectorContext,
    Limit,
    Segment,
    limit_at,
    next_change,
    station_timeline,
    timeline,
)
from firmware.smart.profile_set import ProfileRules, format_time, utc_time
from firmware.smart.profiles import ChargingProfile, Purpose, RateUnit
from firmware.smart.store import ProfileStore
from firmware.storage.statedir import StateDir
from hal.clock import Clock, Timer
from hal.contract import Unsubscribe
from hal.pubsub import Subscribers

if TYPE_CHECKING:
    from firmware.core.api import StationApi
    from firmware.settings import Settings

log = logging.getLogger(__name__)

RECHECK_S = 60.0  # re-evaluate at least this often (the wall clock may be corrected by the CSMS)
SOURCE = LimitSource.SMART_CHARGING.value


class _ConnectorState:
    def __init__(self, phases: int, voltage_v: float) -> None:
        self.phases = phases
        self.voltage_v = voltage_v
        self.session_start: datetime | None = None
        self.applied: float | None = None  # what we last gave the arbiter
        self.paused_since: float | None = None  # monotonic time the pause began
        self.limit: Limit | None = None  # the engine's verdict
        self.switched_phases: int | None = None  # set by the phase switcher on switchable connectors


# Installs a held profile for the session now running on the given connector: (installed, reason).
SessionInstall = Callable[[int], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class Composite:
    """A composite schedule in neutral terms: limits in A and phases, from `start` for `duration_s`."""

    start: datetime
    duration_s: int
    segments: tuple[Segment, ...]
    context: ConnectorContext


class SmartChargingService:
    def __init__(self, station: StationApi, clock: Clock, state_dir: Path, settings: Settings,
                 storage: StateDir | None = None) -> None:
        self.station = station
        self.clock = clock
        self.settings = settings
        self.config = settings.smart_charging
        self._connectors = {c.id: c for c in settings.connectors}
        self.rules = ProfileRules(
            connector_ids=station.connector_ids, max_stack_level=self.config.max_stack_level,
            allowed_units=tuple(self.config.allowed_units), max_periods=self.config.max_periods,
            max_profiles=self.config.max_profiles,
        )
        self._switchable: set[int] = set()  # connectors whose phases the PhaseSwitcher controls
        # Profiles waiting for their session (RemoteStartTransaction's), by connector (None: any connector):
        # how to install it once the session runs on a connector, and when to give up.
        self._pending_remote: dict[int | None, tuple[SessionInstall, Timer]] = {}
        # Connectors whose TxProfiles outlive the session: its transaction runs on (OCPP 2.0.1 TxStopPoint).
        self._tx_held: set[int] = set()
        self._store = ProfileStore(state_dir / "smart_charging.sqlite3", storage)
        self.profiles: list[ChargingProfile] = self._store.load()
        self._state = {cid: _ConnectorState(c.phases, c.nominal_voltage_v)
                       for cid, c in self._connectors.items()}
        self._timer: Timer | None = None
        self._changed: Subscribers[Mapping[int, Limit | None]] = Subscribers("smart-charging limits")
        # Subscribed before the station starts: a session ended by a power cut is not missed.
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)
        station.add_status_section("smart_charging", self.status)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        for cid, state in self._state.items():
            session = self.station.session_of(cid)
            if session is None:
                self._drop_tx_profiles(cid)
            else:
                state.session_start = _as_datetime(session.get("started_at")) or self.clock.now()
        self.reevaluate()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._store.close()

    def on_change(self, listener: Callable[[Mapping[int, Limit | None]], None]) -> Unsubscribe:
        """Call `listener` with the limits by connector after every re-evaluation (phase switching uses
        it)."""
        return self._changed.subscribe(listener)

    # ---- operations the protocol adapters call --------------------------------------------------
    @property
    def switches_phases(self) -> bool:
        """Some connector's phases are planned by the engine (a phase-switch contactor is fitted)."""
        return bool(self._switchable)

    def enable_phase_switching(self, connector_id: int) -> None:
        """From now on the engine plans this connector's phases (numberPhases, 1 phase at low power)."""
        self._switchable.add(connector_id)

    def can_switch_phases(self, connector_id: int) -> bool:
        """Whether the engine can honour a period's numberPhases on this connector."""
        return connector_id in self._switchable

    def install_profile(self, profile: ChargingProfile, replace_same_stack: bool = True) -> tuple[bool, str]:
        """Install and enforce at once (firmware.smart.profile_set.install); (False, reason) when full."""
        profiles, reason = profile_set.install(self.profiles, profile, self.rules.max_profiles,
                                               replace_same_stack)
        if profiles is None:
            return False, reason
        self._commit(profiles)
        log.info("charging profile %s installed (%s, connector %s, stack %s)", profile.id,
                 profile.purpose.value, profile.connector_id, profile.stack_level)
        return True, ""

    def hold_for_session(self, connector_id: int | None, install: SessionInstall,
                         wait_s: float | None = None) -> None:
        """Keep a profile for the session a remote start asked for: `install(connector)` runs when that
        session starts (on `connector_id`, or on any when None) within `wait_s` (default: the connection
        timeout), else the profile is forgotten. A newer one for the same connector replaces it."""
        key = connector_id or None
        old = self._pending_remote.pop(key, None)
        if old is not None:
            old[1].cancel()

        def expire() -> None:
            self._pending_remote.pop(key, None)

        # Kept as long as the authorization waits for the plug (OCPP ConnectionTimeOut when given).
        wait = self.settings.station.connection_timeout_s if wait_s is None else wait_s
        expiry = self.clock.call_later(wait, expire)
        self._pending_remote[key] = (install, expiry)

    def _install_pending_remote(self, connector_id: int) -> None:
        pending = self._pending_remote.pop(connector_id, None) or self._pending_remote.pop(None, None)
        if pending is None:
            return
        install, expiry = pending
        expiry.cancel()
        accepted, reason = install(connector_id)
        if not accepted:
            log.warning("RemoteStartTransaction chargingProfile not installed: %s", reason)

    def clear(self, id: int | None = None, connector_id: int | None = None, purpose: Purpose | None = None,
              stack_level: int | None = None) -> bool:
        """Remove the profiles matching (firmware.smart.profile_set.clear); True when one was removed."""
        kept, removed = profile_set.clear(self.profiles, id=id, connector_id=connector_id, purpose=purpose,
                                          stack_level=stack_level)
        if removed:
            self._commit(kept)
        return bool(removed)

    def composite(self, connector_id: int, duration_s: int) -> Composite | None:
        """What the connector (0: the whole charger) may draw over the next `duration_s` under every
        limit, as neutral periods from a start rounded up to whole seconds; None for an unknown connector
        or a negative duration. Each OCPP version renders it in its own units and resolution."""
        if duration_s < 0 or (connector_id != 0 and connector_id not in self._state):
            return None
        # scheduleStart: now, rounded up to whole seconds, so nothing that began before now shows up as a
        # leading period (1.6 times go out in whole seconds).
        now = self.clock.now()
        start = now if now.microsecond == 0 else now.replace(microsecond=0) + timedelta(seconds=1)
        if connector_id == 0:
            ctx = self._station_context()
            # The whole charger: what every connector may draw under all its limits, summed, and capped by
            # the ChargePointMaxProfile (OCPP 1.6 §5.7: connector 0 = expected consumption from the grid).
            cap = timeline([p for p in self.profiles if p.purpose is Purpose.CHARGE_POINT_MAX], start,
                           duration_s, ctx)
            each = [timeline(self.profiles, start, duration_s, self._context(cid)) for cid in self._state]
            segments = station_timeline(each, cap, start, duration_s, ctx)
        else:
            ctx = self._context(connector_id)
            segments = timeline(self.profiles, start, duration_s, ctx)
        return Composite(start, duration_s, tuple(segments), ctx)

    # ---- enforcement -----------------------------------------------------------------------------
    def limit_of(self, connector_id: int) -> Limit | None:
        return self._state[connector_id].limit

    def set_phases(self, connector_id: int, phases: int) -> None:
        """The phase switcher reports the phases now wired through; the limits follow at once."""
        state = self._state[connector_id]
        state.switched_phases = phases
        if state.phases != phases:
            state.phases = phases
            self.reevaluate()

    def reevaluate(self) -> None:
        """Apply the current limit of every connector now and arm the timer for the next boundary."""
        now = self.clock.now()
        mono = self.clock.monotonic()
        wake_in = RECHECK_S
        for cid, state in self._state.items():
            ctx = self._context(cid)
            limit = limit_at(self.profiles, now, ctx)
            state.limit = limit
            wake_in = min(wake_in, self._apply(cid, state, limit, mono))
            change = next_change(self.profiles, now, ctx, horizon_s=RECHECK_S)
            if change is not None:
                wake_in = min(wake_in, (change - now).total_seconds())
        self._arm(wake_in)
        self._changed.publish({cid: state.limit for cid, state in self._state.items()})

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.clock.call_later(max(0.0, delay), self._on_timer)

    def _on_timer(self) -> None:
        try:
            self.reevaluate()
        except Exception:  # enforcement must go on: try again later
            log.exception("smart-charging re-evaluation failed")
            self._arm(RECHECK_S)

    def _apply(self, cid: int, state: _ConnectorState, limit: Limit, mono: float) -> float:
        """Give the arbiter this connector's value; returns when the hysteresis wants another look."""
        # Bound by the hardware: no profile limits this connector, so the source is cleared.
        # Rounded down to 0.01 A: a W limit is never exceeded by rounding.
        wanted = math.floor(limit.amps_now * 100 + 1e-6) / 100 if limit.bound_by != "hardware" else None
        wake_in = RECHECK_S
        minimum = self.config.min_current_a
        if wanted is not None and wanted < minimum:
            if state.paused_since is None:
                state.paused_since = mono
        elif state.paused_since is not None:
            remaining = state.paused_since + self.config.min_pause_s - mono
            if remaining > 0:
                wanted, wake_in = 0.0, remaining  # hold the pause: no flapping
            else:
                state.paused_since = None
        if wanted != state.applied:
            state.applied = wanted
            self.station.set_limit(SOURCE, wanted, cid)
        return wake_in

    def _commit(self, profiles: list[ChargingProfile]) -> None:
        self.profiles = profiles
        self.reevaluate()  # enforce first (the car must feel it at once), then persist
        self._store.replace_all(profiles)

    def hold_tx_profiles(self, connector_id: int, held: bool) -> None:
        """Keep the connector's TxProfiles past the end of its session (a transaction runs), or (False)
        drop them now: the transaction ended."""
        if held:
            self._tx_held.add(connector_id)
            return
        self._tx_held.discard(connector_id)
        if self._drop_tx_profiles(connector_id):
            self.reevaluate()

    def _drop_tx_profiles(self, connector_id: int) -> bool:
        kept = profile_set.drop_transaction_profiles(self.profiles, connector_id)
        if len(kept) == len(self.profiles):
            return False
        self.profiles = kept
        self._store.replace_all(kept)
        return True

    # ---- context ---------------------------------------------------------------------------------
    def _charging_count(self) -> int:
        return max(1, sum(1 for s in self._state.values() if s.session_start is not None))

    def _context(self, connector_id: int) -> ConnectorContext:
        conf = self._connectors[connector_id]
        state = self._state[connector_id]
        hw = min(conf.rated_current_a, conf.max_current_a or conf.rated_current_a)
        return ConnectorContext(
            connector_id=connector_id, hardware_max_a=hw, phases=state.phases, voltage_v=state.voltage_v,
            session_start=state.session_start, can_switch_phases=connector_id in self._switchable,
            supply_phases=conf.phases,
            station_share=self._charging_count() if state.session_start is not None else 1,
        )

    def _station_context(self) -> ConnectorContext:
        confs = list(self._connectors.values())
        return ConnectorContext(
            connector_id=0,
            hardware_max_a=sum(min(c.rated_current_a, c.max_current_a or c.rated_current_a) for c in confs),
            phases=max(c.phases for c in confs), voltage_v=confs[0].nominal_voltage_v)

    # ---- core events -----------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted) and event.connector_id in self._state:
            self._state[event.connector_id].session_start = event.timestamp
            if self._pending_remote:
                self._install_pending_remote(event.connector_id)
            self.reevaluate()
        elif isinstance(event, SessionStopped) and event.connector_id in self._state:
            state = self._state[event.connector_id]
            state.session_start = None
            state.phases = state.switched_phases or self._connectors[event.connector_id].phases
            if event.connector_id not in self._tx_held:
                self._drop_tx_profiles(event.connector_id)
            self.reevaluate()
        elif isinstance(event, MeterSampled) and event.connector_id in self._state:
            self._on_meter(event)

    def _on_meter(self, event: MeterSampled) -> None:
        state = self._state[event.connector_id]
        reading = event.reading
        changed = False
        volts = [v for v in reading.voltage_v if v > 50]
        if volts:
            voltage = sum(volts) / len(volts)
            if abs(voltage - state.voltage_v) >= 2.0:
                state.voltage_v = voltage
                changed = True
        if state.session_start is not None and reading.current_a and state.switched_phases is None:
            # A 1-phase car on a 3-phase connector: W limits are converted with the phases really used.
            drawing = sum(1 for a in reading.current_a if a >= 1.0)
            if drawing and drawing != state.phases:
                state.phases = drawing
                changed = True
        if changed and any(p.schedule.unit is RateUnit.WATTS for p in self.profiles):
            self.reevaluate()

    # ---- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        connectors = {}
        for cid, state in self._state.items():
            change = next_change(self.profiles, now, self._context(cid))
            connectors[str(cid)] = {
                "limit_a": round(state.limit.amps, 1) if state.limit else None,
                "phases": state.limit.phases if state.limit else None,
                "bound_by": state.limit.bound_by if state.limit else None,
                "applied_a": state.applied,
                "pause_hold": state.paused_since is not None and state.applied == 0.0,
                "next_change": format_time(change) if change else None,
            }
        return {
            "profiles": [{"id": p.id, "connector": p.connector_id, "purpose": p.purpose.value,
                          "stack_level": p.stack_level, "kind": p.kind.value, "unit": p.schedule.unit.value}
                         for p in sorted(self.profiles, key=lambda p: (p.connector_id, p.id))],
            "connectors": connectors,
        }


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return utc_time(value)
        except ValueError:
            return None
    return None
