"""The physics of one simulated connector: pilot line, EV, contacts, faults, energy, all under one lock.

Every change goes through `ConnectorWorld.change`, which integrates energy up to now, applies the change,
lets the EV settle, and then (after releasing the lock, in the caller's thread) tells the parts'
subscribers what changed. Delays (the EV's reaction) run on the injected clock, never on threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from hal.clock import Clock
from hal.fake.ev import SimulatedEV
from hal.fake.ev_side import EV_LEVEL_V, NEGATIVE_LEVEL_V, duty_to_ev_current
from hal.fake.faults import SimFault
from hal.pubsub import Notification
from hal.types import (
    PILOT_HIGH,
    CableAmpacity,
    CPState,
    PilotOutput,
    PilotOutputMode,
    PilotReading,
)

Watcher = Callable[[], list[Notification]]
_NOT_SENT = object()


class WorldSaver:
    """Keeps the world's lasting state (hal.fake.persistence); this base keeps nothing. Called under the
    world's lock: after every change, and for the meter register before a reading is handed out."""

    def state_changed(self) -> None:
        return None

    def energy_changed(self) -> None:
        return None


class ConnectorWorld:
    def __init__(
        self,
        clock: Clock,
        *,
        phases: int,
        voltage_v: float,
        ev: SimulatedEV,
        cable_ampacity: CableAmpacity,
        with_phase_switch: bool,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.phases = phases
        self.voltage_v = voltage_v
        self.ev = ev
        self.cable_ampacity = cable_ampacity
        self.faults: set[SimFault] = set()
        self.output: PilotOutput = PILOT_HIGH
        self.output_history: list[tuple[float, PilotOutput]] = []
        self.diode_latched = False
        self.main_commanded = False
        self.main_contacts_closed = False
        self.with_phase_switch = with_phase_switch
        self.phase_switch_closed = False
        self.temperature_c = 25.0
        self.locked = False
        self.energy_wh = 0.0
        self.signing: dict[str, Any] | None = None  # the signing meter's memory (hal/fake/signing_meter.py)
        self._integrated_at = clock.monotonic()
        self._plug_generation = 0
        self._offer_sent: float | object | None = _NOT_SENT
        self._offer_seq = 0  # offers handed to the EV, and the newest it has taken in
        self._perceived_seq = 0
        self._watchers: list[Watcher] = []
        self.saver = WorldSaver()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- change and notification -------------------------------------------------------------

    def watch(self, watcher: Watcher) -> None:
        """Register a part's check, run under the lock after every change, returning its notifications."""
        self._watchers.append(watcher)

    def change(self, mutate: Callable[[], None]) -> None:
        with self.lock:
            self.integrate()
            mutate()
            offer = self.offer_seen_by_ev()
            if self.ev.plugged and offer != self._offer_sent:
                self._offer_sent = offer
                self._ev_perceive_later(offer)
            self._settle()
            self.saver.state_changed()
            pending = [n for watcher in self._watchers for n in watcher()]
        for notification in pending:
            notification()

    def _settle(self) -> None:
        faults = self.faults
        if SimFault.STUCK_CLOSED in faults:
            # The coil is energised whatever is commanded (e.g. a shorted driver transistor).
            self.main_contacts_closed = True
        elif SimFault.FEEDBACK_MISSING in faults:
            # The contactor does not pull in (coil or supply failure): no current, mirror contact open.
            self.main_contacts_closed = False
        elif SimFault.WELDED not in faults or self.main_commanded:
            # Welded contacts stay closed once they have closed, whatever is commanded.
            self.main_contacts_closed = self.main_commanded
        self.ev.settle()
        if not self.ev.plugged or SimFault.DIODE not in self.faults:
            self.diode_latched = False
        elif self.output.mode is PilotOutputMode.PWM:
            # A real driver latches the diode fault until state A (chargebyte CPUtils,
            # docs/reference/hardware.md §1.3).
            self.diode_latched = True

    # --- timing -------------------------------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Schedule on the clock; from a thread without an event loop, hand over to the loop's thread."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = self._loop
            if loop is not None and loop.is_running():
                loop.call_soon_threadsafe(self.clock.call_later, delay, callback)
                return
        self.clock.call_later(delay, callback)

    def remember_loop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    # --- the EV's view of the pilot -----------------------------------------------------------

    def offer_seen_by_ev(self) -> float | None:
        if self.output.mode is not PilotOutputMode.PWM or SimFault.CP_SHORT in self.faults:
            return None
        return duty_to_ev_current(self.output.duty_percent)

    def _ev_perceive_later(self, offer: float | None) -> None:
        """The EV takes in the pilot offer `reaction_s` from now (called under the lock)."""
        generation = self._plug_generation
        self._offer_seq += 1
        seq = self._offer_seq

        def perceive() -> None:
            # Callbacks scheduled from different threads may run out of order: never go back to an
            # older offer than the one already taken in.
            if generation == self._plug_generation and seq > self._perceived_seq:
                self._perceived_seq = seq
                self.ev.perceived_offer_a = offer

        self.call_later(self.ev.reaction_s, lambda: self.change(perceive))

    def plug(self) -> None:
        self._plug_generation += 1
        self.ev.plugged = True
        self.ev.forced_state = None
        self.ev.perceived_offer_a = None
        self._offer_sent = _NOT_SENT

    def unplug(self) -> None:
        self._plug_generation += 1
        self.ev.plugged = False
        self.ev.forced_state = None
        self.ev.perceived_offer_a = None

    # --- measurements -------------------------------------------------------------------------

    def pilot_reading(self) -> PilotReading:
        """What a CP measurement circuit would classify now (levels: docs/reference/hardware.md §1.3)."""
        if self.output.mode is PilotOutputMode.OFF or SimFault.CP_SHORT in self.faults:
            return PilotReading(CPState.E, 0.0, 0.0)
        if self.output.mode is PilotOutputMode.NEGATIVE:
            return PilotReading(CPState.F, NEGATIVE_LEVEL_V, NEGATIVE_LEVEL_V)
        state = self.ev.state
        positive = EV_LEVEL_V[state]
        if self.output.mode is PilotOutputMode.HIGH:
            return PilotReading(CPState(state), positive, positive, self.diode_latched)
        if self.diode_latched:
            return PilotReading(CPState(state), positive, -positive, True)
        return PilotReading(CPState(state), positive, NEGATIVE_LEVEL_V)

    @property
    def live_phases(self) -> int:
        """Supply phases reaching the socket: L1 only while an open phase-switch contactor cuts L2/L3."""
        if self.with_phase_switch and not self.phase_switch_closed:
            return 1
        return self.phases

    def drawn_a(self) -> tuple[float, ...]:
        """Current per supply phase (L1..), the EV drawing on its own phases among the live ones."""
        per_phase = self.ev.current_a(
            powered=self.main_contacts_closed, overdraw=SimFault.OVERDRAW in self.faults
        )
        used = min(self.ev.phases, self.live_phases)
        return tuple(per_phase if i < used else 0.0 for i in range(self.phases))

    def integrate(self) -> None:
        """Add the energy drawn since the last integration (the current is constant in between)."""
        now = self.clock.monotonic()
        elapsed = now - self._integrated_at
        if elapsed > 0:
            self.energy_wh += sum(self.drawn_a()) * self.voltage_v * elapsed / 3600.0
        self._integrated_at = now


class WorldPart:
    """A simulated part with nothing to open or release: its state lives in the connector's world."""

    def __init__(self, world: ConnectorWorld) -> None:
        self._world = world

    async def start(self) -> None:
        self._world.remember_loop()

    async def stop(self) -> None:
        return None
