"""Phase switching (3 <-> 1 phase) for connectors with a phase-switch contactor on L2/L3.

The smart-charging engine decides how many phases to use (a period's numberPhases, or 1 phase when a
power limit is too low for 6 A on three phases). The core owns the phase-switch contactor (its safety
interlock opens it together with the main contactor), so this module asks the core for a phase count
(`PhaseControl.request_phases`, applied at the next closing of the main contactor) and, when current
flows, makes that closing happen safely:
1. pause through the arbiter (limit source "phase_switching" = 0: the core turns the PWM off);
2. wait until the core has opened the main contactor (the EV stopped drawing, or the core cut it);
3. request the new phase count, tell smart charging (its amps follow the phases), wait
   phase_switch_pause_s and lift the pause; the core resumes after its own minimum pause.
Under load at most one switch per phase_switch_interval_s; with the contactor open the request is
simply passed on (nothing flows, nothing to wait for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.core.api import StationApi
    from firmware.settings import Settings
    from firmware.smart.service import SmartChargingService
    from hal.contract import Contactor, StationHardware

log = logging.getLogger(__name__)
SOURCE = "phase_switching"
OPEN_TIMEOUT_S = 15.0  # the core cuts an EV that ignores PWM-off after 6 s (IEC 61851-1 C1 timing)
POLL_S = 0.1


@runtime_checkable
class PhaseControl(Protocol):
    """What the core must offer for phase switching (see the module docstring)."""

    def request_phases(self, connector_id: int, phases: int) -> None:
        """Use `phases` (1 or the connector's supply phases) from the next main-contactor closing on."""

    def phases_in_use(self, connector_id: int) -> int:
        """Phases the main contactor switches through now (or will at its next closing)."""


class PhaseSwitcher:
    def __init__(self, station: StationApi, phases: PhaseControl, clock: Clock, settings: Settings,
                 hardware: StationHardware, smart: SmartChargingService) -> None:
        self.station = station
        self.phases = phases
        self.clock = clock
        self.config = settings.smart_charging
        self.smart = smart
        supply = {c.id: c.phases for c in settings.connectors}
        self._mains: dict[int, Contactor] = {
            hw.connector_id: hw.contactor for hw in hardware.connectors
            if hw.phase_switch is not None and supply[hw.connector_id] > 1}
        self._last_switch: dict[int, float] = {}
        self._busy: dict[int, asyncio.Task[None]] = {}
        self.switches = 0
        for cid in self._mains:
            smart.enable_phase_switching(cid)
        smart.on_change(lambda _limits: self._on_limits())
        station.add_status_section("phase_switching", self.status)

    async def start(self) -> None:
        for cid in self._mains:
            self.smart.set_phases(cid, self.phases.phases_in_use(cid))

    async def stop(self) -> None:
        for task in list(self._busy.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._busy.clear()

    def _on_limits(self) -> None:
        for cid, main in self._mains.items():
            limit = self.smart.limit_of(cid)
            if limit is None or cid in self._busy or limit.phases == self.phases.phases_in_use(cid):
                continue
            if not main.commanded_closed:
                self._apply(cid, limit.phases)  # nothing flows: no pause, no interval used
                continue
            last = self._last_switch.get(cid)
            interval = self.config.phase_switch_interval_s
            wait = 0.0 if last is None else last + interval - self.clock.monotonic()
            self._busy[cid] = asyncio.get_running_loop().create_task(self._switch(cid, wait))

    async def _switch(self, cid: int, wait: float) -> None:
        main = self._mains[cid]
        try:
            if wait > 0:
                await self.clock.sleep(wait)
            limit = self.smart.limit_of(cid)
            if limit is None or limit.phases == self.phases.phases_in_use(cid):
                return
            log.info("connector %d: switching to %d phase(s)", cid, limit.phases)
            self.station.set_limit(SOURCE, 0.0, cid)
            waited = 0.0
            while main.commanded_closed:
                if waited >= OPEN_TIMEOUT_S:
                    log.error("connector %d: main contactor still closed, phase switch abandoned", cid)
                    return
                await self.clock.sleep(POLL_S)
                waited += POLL_S
            self._apply(cid, limit.phases)
            self._last_switch[cid] = self.clock.monotonic()
            self.switches += 1
            await self.clock.sleep(self.config.phase_switch_pause_s)
        except Exception:
            log.exception("connector %d: phase switch failed", cid)
        finally:
            self.station.set_limit(SOURCE, None, cid)
            self._busy.pop(cid, None)
        self._on_limits()  # the wish may have changed meanwhile

    def _apply(self, cid: int, phases: int) -> None:
        self.phases.request_phases(cid, phases)
        self.smart.set_phases(cid, self.phases.phases_in_use(cid))

    def status(self) -> dict[str, Any]:
        return {str(cid): {"phases": self.phases.phases_in_use(cid), "switching": cid in self._busy}
                for cid in self._mains} | {"switches": self.switches}
