"""The simulated world outlives the controller process, as real hardware does.

A real charger's meter keeps its register, the car stays plugged in and a welded contact stays welded
while the controller restarts (crash, reset, power cut of the Pi alone). The simulation does the same: each
connector's lasting state lives in `<directory>/connector-<id>.state`, rewritten (one `pwrite`, so a kill
leaves the old or the new state) after every change of the world and, the register alone, before every
meter reading is handed out: no reading the controller has seen is ever ahead of the file. What the
controller drives (pilot, contactor command) is not kept: it sets those again at start. `reset` forgets
it all (`chargepi sim reset`); `[station.hal] sim_persist = false` starts every run with a new world.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hal.fake.faults import SimFault
from hal.fake.station import SimulatedStation
from hal.fake.world import ConnectorWorld, WorldSaver

log = logging.getLogger(__name__)

VERSION = 1


def _state(world: ConnectorWorld) -> dict[str, Any]:
    ev = world.ev
    return {
        "version": VERSION,
        "energy_wh": world.energy_wh,
        "plugged": ev.plugged,
        "ev_wants_energy": ev.wants_energy,
        "ev_forced_state": ev.forced_state,
        "ev_max_current_a": ev.max_current_a,
        "ev_phases": ev.phases,
        "faults": sorted(f.value for f in world.faults),
        "contacts_closed": world.main_contacts_closed,
        "locked": world.locked,
        "temperature_c": world.temperature_c,
        "signing": world.signing,
    }


def _apply(world: ConnectorWorld, state: dict[str, Any]) -> None:
    ev = world.ev
    world.energy_wh = float(state["energy_wh"])
    world.faults = {SimFault(f) for f in state["faults"] if f != SimFault.POWER_CUT.value}
    # Only welded contacts stay closed without their coil; everything else the controller drives again.
    world.main_contacts_closed = bool(state["contacts_closed"]) and SimFault.WELDED in world.faults
    world.locked = bool(state["locked"])
    world.temperature_c = float(state["temperature_c"])
    world.signing = state.get("signing")  # absent in files of before the signing meter kept its memory
    ev.wants_energy = bool(state["ev_wants_energy"])
    ev.max_current_a = float(state["ev_max_current_a"])
    ev.phases = int(state["ev_phases"])
    if state["plugged"]:
        world.plug()  # the car is there; it perceives the pilot offer afresh
        ev.forced_state = state["ev_forced_state"]
    ev.settle()


class WorldFile:
    def __init__(self, directory: Path, station: SimulatedStation) -> None:
        self.directory = directory
        self._station = station
        self._fresh = {c.connector_id: _state(c.world) for c in station.connectors}

    def path(self, connector_id: int) -> Path:
        return self.directory / f"connector-{connector_id}.state"

    def restore(self) -> None:
        """Take over the world as the last run left it (a missing or unreadable file: a new world)."""
        for connector in self._station.connectors:
            path = self.path(connector.connector_id)
            try:
                energy, rest = path.read_text().split("\n", 1)
                state = json.loads(rest)
                state["energy_wh"] = float(energy)
                if state.get("version") != VERSION:
                    raise ValueError(f"version {state.get('version')!r}")
                with connector.world.lock:
                    _apply(connector.world, state)
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("simulated world %s unreadable (%s): starting with a new one", path, exc)

    def attach(self) -> None:
        """Save each connector's world from now on (the world calls back under its lock)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for connector in self._station.connectors:
            world = connector.world
            world.saver = _Saver(self.path(connector.connector_id), world)
            world.saver.state_changed()

    def reset(self) -> None:
        """A new world: car unplugged, defaults, no faults, meter register at 0 (a new meter)."""
        for connector in self._station.connectors:
            world = connector.world
            fresh = self._fresh[connector.connector_id]

            def renew(world: ConnectorWorld = world, fresh: dict[str, Any] = fresh) -> None:
                if world.ev.plugged:
                    world.unplug()
                _apply(world, fresh)

            world.change(renew)  # the saver writes the new world


class _Saver(WorldSaver):
    """Writes one connector's file with a single `pwrite` of fixed size, so a process killed at any point
    leaves either the old or the new state. The first line is the meter register, rewritten alone on
    every meter reading (cheap: a day of 1 s readings must not cost seconds); the rest, the JSON of the
    other state, is rewritten when it changes."""

    ENERGY_BYTES = 32
    STATE_BYTES = 4064  # one 4 KiB page with the register line; the signing meter's memory needs ~2 KiB

    def __init__(self, path: Path, world: ConnectorWorld) -> None:
        self._world = world
        self._path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._state = ""

    def _energy(self) -> bytes:
        return f"{self._world.energy_wh:{self.ENERGY_BYTES - 1}.6f}\n".encode()

    def energy_changed(self) -> None:
        self._write(self._energy())

    def state_changed(self) -> None:
        state = _state(self._world)
        del state["energy_wh"]
        text = json.dumps(state)
        if text == self._state:
            self.energy_changed()
            return
        body = text.encode().ljust(self.STATE_BYTES)
        if len(body) > self.STATE_BYTES:
            raise ValueError(f"simulated world state too large ({len(body)} bytes)")
        if self._write(self._energy() + body):
            self._state = text

    def _write(self, data: bytes) -> bool:
        try:
            os.pwrite(self._fd, data, 0)
        except OSError as exc:  # a full disk must not stop the simulation
            log.warning("could not save the simulated world to %s: %s", self._path, exc)
            return False
        return True
