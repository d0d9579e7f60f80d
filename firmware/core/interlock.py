"""The safety interlock: the one place that decides whether the contactor may be (or stay) closed.

It runs synchronously in whichever thread reports an input (the CP sampler thread, a GPIO callback, the
asyncio loop) and opens the contactor right there, before anything else is told. The asyncio side (the
connector controller) is only notified afterwards, so a busy event loop or a slow network can never
delay opening. `notify` is called under the interlock's lock (it must only hand the notice over, e.g.
`call_soon_threadsafe`), so notices arrive in the order things happened. Closing, in contrast, is always
requested by the controller and re-checked here.

The contactor may be closed only while all of these hold (docs/reference/hardware.md §4.2 "Closing logic"):
the controller permits it, the CP is C (or D with ventilation), PWM is on, the lock is confirmed,
the RCM has passed its self test and no blocking fault is active. Losing any of them except PWM opens
at once; PWM off (C1) is handled by the controller's 6 s timer (IEC 61851-1 Table A.6 seq. 10.2 via
docs/reference/hardware.md §2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware.core.vocabulary import FAULTS, Fault
from hal.contract import ConnectorHardware, DigitalInput, Unsubscribe
from hal.types import CPState, PilotOutput, PilotOutputMode, PilotReading, ProximityReading

# Right after the EVSE changes its own CP output, the sampler may still report the old level for a
# few bursts; readings matching the previous output are not faults during this window.
OUTPUT_SETTLE_S = 0.1
# The mirror contact must follow the command within 250 ms (chargebyte contactor driver,
# docs/reference/hardware.md §4.2).
FEEDBACK_TIMEOUT_S = 0.25

_PLUGGED = frozenset({CPState.B, CPState.C, CPState.D})

# CP readings that are expected (not faults) for each output mode.
_EXPECTED = {
    PilotOutputMode.PWM: {CPState.A, CPState.B, CPState.C, CPState.D},
    PilotOutputMode.HIGH: {CPState.A, CPState.B, CPState.C, CPState.D},
    PilotOutputMode.NEGATIVE: {CPState.F},
    PilotOutputMode.OFF: {CPState.E},
}


@dataclass(frozen=True, slots=True)
class InterlockNotice:
    """What the interlock tells the controller after the fact."""

    reading: PilotReading | None = None
    fault: Fault | None = None
    fault_active: bool = False
    opened_reason: str | None = None
    feedback_closed: bool | None = None


Notify = Callable[[InterlockNotice], None]


class SafetyInterlock:
    def __init__(self, hardware: ConnectorHardware, *, ventilation: bool, notify: Notify,
                 emergency_stop: DigitalInput | None = None, supply_phases: int = 3,
                 now: Callable[[], float] = time.monotonic, rcd_latched: bool = True) -> None:
        """`rcd_latched=False` (the safety supervisor's copy): an RCM trip holds only while the monitor
        signals; the latch until a technician clears it is kept by the controller, which never asks to
        close while it holds."""
        self._hw = hardware
        self._supply_phases = supply_phases
        self._phases_requested = supply_phases
        self._phases_closed = supply_phases
        self._ventilation = ventilation
        self._notify = notify
        self._estop = emergency_stop
        self._now = now
        self._rcd_latched = rcd_latched
        self._lock = threading.RLock()
        self._permit = False
        self._lock_ok = hardware.lock is None
        self._rcm_ready = hardware.rcm is None  # set once the RCM self test has passed
        self._faults: set[Fault] = set()
        self._reading = PilotReading(CPState.A, 12.0, -12.0)
        self._output = PilotOutput(PilotOutputMode.HIGH)
        self._previous_output = self._output
        self._output_changed_at = float("-inf")
        self._unsubscribe: list[Unsubscribe] = []
        self.last_open_reason: str | None = None

    # --- wiring -------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Force the safe state, then start listening to every safety-relevant input."""
        with self._lock:
            self._hw.contactor.open()
            if self._hw.phase_switch is not None:
                self._hw.phase_switch.open()
            # Written even though _output already says HIGH: a controller killed mid-session (watchdog,
            # crash) leaves the hardware PWM running at its last duty.
            self._output = PilotOutput(PilotOutputMode.HIGH)
            self._hw.pilot.set_output(self._output)
        self._unsubscribe.append(self._hw.pilot.subscribe(self.on_pilot))
        if self._hw.rcm is not None:
            self._unsubscribe.append(self._hw.rcm.subscribe(self.on_rcm))
            if self._hw.rcm.tripped:
                self.on_rcm(True)
        if self._hw.proximity is not None:
            self._unsubscribe.append(self._hw.proximity.subscribe(self.on_proximity))
        if self._estop is not None:
            self._unsubscribe.append(self._estop.subscribe(self.on_emergency_stop))
            if self._estop.active:
                self.on_emergency_stop(True)
        self.on_pilot(self._hw.pilot.read())

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        with self._lock:
            self._permit = False
            self._hw.contactor.open()

    # --- state queries ------------------------------------------------------------------------------
    @property
    def reading(self) -> PilotReading:
        return self._reading

    @property
    def faults(self) -> frozenset[Fault]:
        return frozenset(self._faults)

    @property
    def pilot_output(self) -> PilotOutput:
        return self._output

    def _blocking_fault(self) -> Fault | None:
        for fault in self._faults:
            if FAULTS[fault].blocking:
                return fault
        return None

    def _ev_requests_power(self) -> bool:
        state = self._reading.state
        return state == CPState.C or (state == CPState.D and self._ventilation)

    def _open_reason(self) -> str | None:
        """Why the contactor must be open now, or None if it may stay closed."""
        if not self._permit:
            return "controller"
        fault = self._blocking_fault()
        if fault is not None:
            return f"fault:{fault.value}"
        if not self._ev_requests_power():
            return f"cp:{self._reading.state.value}"
        if not self._lock_ok:
            return "lock"
        if not self._rcm_ready:
            return "rcm-selftest"
        return None

    def may_close(self) -> bool:
        with self._lock:
            return (self._open_reason_if_permitted() is None
                    and self._output.mode == PilotOutputMode.PWM)

    def _open_reason_if_permitted(self) -> str | None:
        saved = self._permit
        self._permit = True
        try:
            return self._open_reason()
        finally:
            self._permit = saved

    # --- commands from the controller ---------------------------------------------------------------
    def request_close(self) -> bool:
        """Close if every condition holds; returns whether the contactor is now commanded closed."""
        with self._lock:
            self._permit = True
            if self._open_reason() is None and self._output.mode == PilotOutputMode.PWM:
                if not self._hw.contactor.commanded_closed:
                    self._set_phase_switch()
                    self._hw.contactor.close()
                return True
            return False

    def request_phases(self, phases: int) -> None:
        """Use `phases` (1 or the supply's) from the next closing on; the phase switch never moves under
        load (it is set just before the main contactor closes: "serial" wiring,
        docs/reference/hardware.md §4.2)."""
        if phases not in (1, self._supply_phases):
            raise ValueError(f"phases must be 1 or {self._supply_phases}, got {phases}")
        if self._hw.phase_switch is None and phases != self._supply_phases:
            raise ValueError("this connector has no phase-switch contactor")
        with self._lock:
            self._phases_requested = phases

    @property
    def phases_in_use(self) -> int:
        with self._lock:
            return self._phases_closed if self._hw.contactor.commanded_closed else self._phases_requested

    def _set_phase_switch(self) -> None:
        """Caller holds the lock and the main contactor is open."""
        switch = self._hw.phase_switch
        if switch is not None:
            if self._phases_requested > 1 and not switch.commanded_closed:
                switch.close()
            elif self._phases_requested == 1 and switch.commanded_closed:
                switch.open()
        self._phases_closed = self._phases_requested

    def request_open(self, reason: str = "controller") -> None:
        with self._lock:
            self._permit = False
            self._open(reason)

    def set_lock_confirmed(self, confirmed: bool) -> None:
        with self._lock:
            self._lock_ok = confirmed or self._hw.lock is None
            self._enforce()

    def set_rcm_ready(self, ready: bool) -> None:
        """False while the RCM self test runs or has not passed: closing is refused."""
        with self._lock:
            self._rcm_ready = ready or self._hw.rcm is None
            self._enforce()

    def set_pilot(self, output: PilotOutput) -> None:
        with self._lock:
            if output == self._output:
                return
            if output.mode != self._output.mode:
                self._previous_output = self._output
                self._output_changed_at = self._now()
            self._output = output
            self._hw.pilot.set_output(output)

    def raise_fault(self, fault: Fault) -> None:
        self._set_fault(fault, True)

    def clear_fault(self, fault: Fault) -> None:
        self._set_fault(fault, False)

    def pilot_fault_persists(self, fault: Fault) -> bool:
        """Whether the pilot reading taken now would raise `fault` again (a clear re-checks it)."""
        with self._lock:
            saved = set(self._faults)
            self._faults.discard(fault)
            try:
                return any(f == fault and active
                           for f, active in self._classify_pilot_faults(self._hw.pilot.read()))
            finally:
                self._faults = saved

    # --- inputs (any thread) ------------------------------------------------------------------------
    def on_pilot(self, reading: PilotReading) -> None:
        """A pushed CP reading. Readings pushed from different threads can arrive out of order, so an
        unsafe one opens at once, but what is tracked (and passed on) is the pilot's current reading."""
        with self._lock:
            self._reading = reading
            opened = self._enforce()
            current = self._hw.pilot.read()
            self._reading = current
            changed = self._classify_pilot_faults(current)
            opened = self._enforce() or opened
            # Told under the lock: notices leave in the order the readings were taken. (Told after it, a
            # thread that read B just before an unplug could deliver its B after the unplug's A, and
            # the controller would start a session with nobody plugged in.)
            for fault, active in changed:
                self._notify(InterlockNotice(fault=fault, fault_active=active))
            self._notify(InterlockNotice(reading=current, opened_reason=opened))

    def on_proximity(self, reading: ProximityReading) -> None:
        """A broken cable coding while a car is plugged in is a fault; it clears in state A."""
        if reading.fault and self._reading.state in _PLUGGED:
            self._set_fault(Fault.PP, True)

    def on_rcm(self, tripped: bool) -> None:
        """A trip latches: the monitor resetting does not clear it, a technician does (vocabulary.FAULTS)."""
        if tripped or not self._rcd_latched:
            self._set_fault(Fault.RCD_TRIP, tripped)

    def on_emergency_stop(self, active: bool) -> None:
        self._set_fault(Fault.EMERGENCY_STOP, active)

    # --- internals ----------------------------------------------------------------------------------
    def _set_fault(self, fault: Fault, active: bool) -> None:
        with self._lock:
            if (fault in self._faults) == active:
                return
            if active:
                self._faults.add(fault)
            else:
                self._faults.discard(fault)
            opened = self._enforce()
            self._notify(InterlockNotice(fault=fault, fault_active=active, opened_reason=opened))

    def _enforce(self) -> str | None:
        """Open now if anything forbids closed. Caller holds the lock."""
        if not self._hw.contactor.commanded_closed:
            return None
        reason = self._open_reason()
        if reason is not None:
            self._open(reason)
        return reason

    def _open(self, reason: str) -> None:
        if self._hw.contactor.commanded_closed:
            self._hw.contactor.open()
            self.last_open_reason = reason
        if self._hw.phase_switch is not None and self._hw.phase_switch.commanded_closed:
            self._hw.phase_switch.open()

    def _expected(self, state: CPState) -> bool:
        if state in _EXPECTED[self._output.mode]:
            return True
        settling = self._now() - self._output_changed_at < OUTPUT_SETTLE_S
        return settling and state in _EXPECTED[self._previous_output.mode]

    def _classify_pilot_faults(self, reading: PilotReading) -> list[tuple[Fault, bool]]:
        """Update CP-derived faults; returns the changes. Caller holds the lock."""
        changes: list[tuple[Fault, bool]] = []

        def put(fault: Fault, active: bool) -> None:
            if (fault in self._faults) != active:
                (self._faults.add if active else self._faults.discard)(fault)
                changes.append((fault, active))

        state = reading.state
        if state == CPState.A:
            # Faults latched "until state A" (diode: chargebyte CPUtils; short/range: EVerest) clear here.
            for fault in (Fault.DIODE, Fault.CP_SHORT, Fault.PILOT_OUT_OF_RANGE, Fault.VENTILATION,
                          Fault.PP):
                put(fault, False)
            return changes
        if reading.diode_fault and self._output.mode == PilotOutputMode.PWM:
            put(Fault.DIODE, True)
        if not self._expected(state):
            if state == CPState.E:
                put(Fault.CP_SHORT, True)
            else:
                put(Fault.PILOT_OUT_OF_RANGE, True)
        if state == CPState.D and not self._ventilation:
            put(Fault.VENTILATION, True)
        elif state in (CPState.B, CPState.C):
            put(Fault.VENTILATION, False)  # not on E/F: those are our own fault signalling
        return changes
