"""A simulated connector: the fake parts of one charging point plus the car plugged into it.

Tests, the demo and `chargepi sim` drive it through the methods below (plug, swipe, inject a fault ...);
the firmware sees only the HAL parts (`hardware()`), exactly as it would see real hardware.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hal.clock import Clock
from hal.contract import ConnectorHardware
from hal.fake.contactor import SimulatedContactor
from hal.fake.display import SimulatedDisplay
from hal.fake.ev import EV_STATES, MAX_REACTION_S, SimulatedEV
from hal.fake.faults import SimFault, parse_fault
from hal.fake.meter import SimulatedMeter
from hal.fake.parts import (
    SimulatedIndicator,
    SimulatedLock,
    SimulatedProximity,
    SimulatedRcm,
    SimulatedTemperature,
    SimulatedTokenReader,
)
from hal.fake.pilot import SimulatedPilot
from hal.fake.world import ConnectorWorld
from hal.types import CableAmpacity


def _die_like_a_power_failure() -> None:
    os._exit(137)


class SimulatedConnector:
    def __init__(
        self,
        connector_id: int,
        clock: Clock,
        *,
        phases: int = 3,
        voltage_v: float = 230.0,
        ev_max_current_a: float = 32.0,
        ev_reaction_s: float = 1.0,
        cable_ampacity: CableAmpacity = CableAmpacity.A32,
        with_phase_switch: bool = False,
        on_power_cut: Callable[[], None] | None = None,
    ) -> None:
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {phases}")
        if not 0.0 <= ev_reaction_s <= MAX_REACTION_S:
            raise ValueError(f"ev_reaction_s must be within 0..{MAX_REACTION_S} s, got {ev_reaction_s}")
        _check_current(ev_max_current_a)
        self.connector_id = connector_id
        self.clock = clock
        self._on_power_cut = on_power_cut or _die_like_a_power_failure
        ev = SimulatedEV(max_current_a=ev_max_current_a, phases=phases, reaction_s=ev_reaction_s)
        self._world = world = ConnectorWorld(
            clock,
            phases=phases,
            voltage_v=voltage_v,
            ev=ev,
            cable_ampacity=cable_ampacity,
            with_phase_switch=with_phase_switch,
        )
        self.pilot = SimulatedPilot(world)
        self.contactor = SimulatedContactor(world, main=True)
        self.meter = SimulatedMeter(world)
        self.proximity = SimulatedProximity(world)
        self.rcm = SimulatedRcm(world)
        self.lock = SimulatedLock(world)
        self.temperature = SimulatedTemperature(world)
        self.token_reader = SimulatedTokenReader()
        self.indicator = SimulatedIndicator()
        self.display = SimulatedDisplay()
        self.phase_switch = SimulatedContactor(world, main=False) if with_phase_switch else None

    @property
    def world(self) -> ConnectorWorld:
        return self._world

    def hardware(self) -> ConnectorHardware:
        return ConnectorHardware(
            connector_id=self.connector_id,
            pilot=self.pilot,
            contactor=self.contactor,
            meter=self.meter,
            proximity=self.proximity,
            phase_switch=self.phase_switch,
            rcm=self.rcm,
            lock=self.lock,
            temperature=self.temperature,
            token_reader=self.token_reader,
            indicator=self.indicator,
        )

    # --- the car ------------------------------------------------------------------------------

    def plug(self) -> None:
        """Plug a car in: state B at once; it asks for power `ev_reaction_s` after it sees an offer."""
        world = self._world

        def plug_in() -> None:
            if world.ev.plugged:
                raise ValueError(f"connector {self.connector_id}: a car is already plugged in")
            world.plug()

        world.change(plug_in)

    def unplug(self) -> None:
        self._with_car(self._world.unplug)

    def set_ev_state(self, state: str) -> None:
        """Pin the car's S2 state: B (not asking), C (asking), D (asking, needs ventilation).

        The car keeps that state whatever the pilot does (e.g. C with the PWM off, like a car that ignores
        a withdrawn offer) until pause(), resume(), unplug() or plug().
        """
        if state not in EV_STATES:
            raise ValueError(f"EV state must be one of {', '.join(EV_STATES)}, got {state!r}")
        world = self._world

        def force() -> None:
            world.ev.forced_state = state
            world.ev.wants_energy = state != "B"

        self._with_car(force)

    def pause(self) -> None:
        """The car stops asking (full, or waiting for its own schedule): back to B at once."""
        world = self._world

        def stop_asking() -> None:
            world.ev.forced_state = None
            world.ev.wants_energy = False

        world.change(stop_asking)

    def resume(self) -> None:
        """The car asks again: C at once if it has seen a valid offer, else as soon as it does."""
        world = self._world

        def ask() -> None:
            world.ev.forced_state = None
            world.ev.wants_energy = True

        world.change(ask)

    def set_ev_max_current(self, amps: float) -> None:
        _check_current(amps)
        world = self._world
        world.change(lambda: setattr(world.ev, "max_current_a", float(amps)))

    def set_phases(self, n: int) -> None:
        """How many phases the car's on-board charger uses (1-3)."""
        if n not in (1, 2, 3):
            raise ValueError(f"the car can use 1, 2 or 3 phases, got {n}")
        world = self._world
        world.change(lambda: setattr(world.ev, "phases", n))

    def _with_car(self, mutate: Callable[[], None]) -> None:
        """Change the car; the check runs inside the change so that subscribers are always called
        with the simulation's lock released (holding it across them can deadlock the interlock)."""
        world = self._world

        def checked() -> None:
            if not world.ev.plugged:
                raise ValueError(f"connector {self.connector_id}: no car is plugged in")
            mutate()

        world.change(checked)

    # --- the surroundings ---------------------------------------------------------------------

    def swipe(self, token: str) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self.token_reader.present(token)

    def set_temperature(self, celsius: float) -> None:
        if not -50.0 <= celsius <= 150.0:
            raise ValueError(f"temperature must be within -50..150 °C, got {celsius}")
        world = self._world
        world.change(lambda: setattr(world, "temperature_c", float(celsius)))

    def inject(self, fault: str) -> None:
        """Make a fault appear (names: hal.fake.faults.FAULT_NAMES). "power-cut" ends the process."""
        which = parse_fault(fault)
        if which is SimFault.POWER_CUT:
            self._on_power_cut()
            return
        world = self._world
        world.change(lambda: world.faults.add(which))

    def clear(self, fault: str) -> None:
        which = parse_fault(fault)
        world = self._world
        world.change(lambda: world.faults.discard(which))

    # --- what is going on ---------------------------------------------------------------------

    def meter_state(self) -> tuple[float, tuple[float, ...]]:
        """(import energy Wh, current per phase A), regardless of the meter-offline fault."""
        world = self._world
        with world.lock:
            world.integrate()
            return world.energy_wh, world.drawn_a()

    def snapshot(self) -> dict[str, Any]:
        world = self._world
        with world.lock:
            world.integrate()
            ev = world.ev
            reading = world.pilot_reading()
            output = world.output
            return {
                "connector_id": self.connector_id,
                "plugged": ev.plugged,
                "ev_state": ev.state,
                "ev_state_forced": ev.forced_state is not None,
                "ev_wants_energy": ev.wants_energy,
                "ev_max_current_a": ev.max_current_a,
                "ev_phases": ev.phases,
                "ev_offer_a": ev.perceived_offer_a,
                "pilot_output": output.mode.value,
                "pilot_duty_percent": output.duty_percent,
                "cp_state": reading.state.value,
                "cp_positive_v": reading.positive_v,
                "cp_negative_v": reading.negative_v,
                "contactor_commanded": world.main_commanded,
                "contactor_closed": world.main_contacts_closed,
                "phase_switch_closed": world.phase_switch_closed if world.with_phase_switch else None,
                "locked": world.locked,
                "drawn_a": list(world.drawn_a()),
                "voltage_v": world.voltage_v,
                "energy_wh": round(world.energy_wh, 3),
                "temperature_c": world.temperature_c,
                "cable_ampacity_a": int(world.cable_ampacity),
                "faults": sorted(f.value for f in world.faults),
                "display": None if self.display.content is None
                else [line.rstrip() for line in self.display.content.lines],
            }


def _check_current(amps: float) -> None:
    if not 0.0 <= amps <= 80.0:
        raise ValueError(f"EV maximum current must be within 0..80 A, got {amps}")
