"""Phase switching (3 <-> 1 phase) for connectors with a phase-switch contactor on L2/L3.

The smart-charging engine decides how many phases to use (a period's numberPhases, or 1 phase when a
power limit is too low for 6 A on three phases). This module makes the hardware follow, safely:
1. pause through the arbiter (limit source "phase_switching" = 0: the core turns the PWM off);
2. wait until the core has opened the main contactor (the EV stopped drawing, or the core cut it);
3. wait phase_switch_pause_s, then switch the phase contactor (closed = 3 phases, open = 1 phase) while
   no current flows;
4. tell smart charging the new phase count (its amps are recomputed for it) and lift the pause; the core
   resumes after its own minimum pause.
Under load at most one switch per phase_switch_interval_s; with no session the contactor is simply set
(no current flows, nothing to wait for). The phase contactor is never moved while the main one is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from firmware.clock import Clock

if TYPE_CHECKING:
    from firmware.core.api import StationApi
    from firmware.settings import Settings
    from firmware.smart.service import SmartChargingService
    from hal.contract import Contactor, StationHardware

log = logging.getLogger(__name__)
SOURCE = "phase_switching"
OPEN_TIMEOUT_S = 15.0  # the core cuts an EV that ignores PWM-off after 6 s (IEC 61851-1 C1 timing)
POLL_S = 0.1


class PhaseSwitcher:
    def __init__(self, station: StationApi, clock: Clock, settings: Settings, hardware: StationHardware,
                 smart: SmartChargingService) -> None:
        self.station = station
        self.clock = clock
        self.config = settings.smart_charging
        self.smart = smart
        self._supply = {c.id: c.phases for c in settings.connectors}
        self._parts: dict[int, tuple[Contactor, Contactor]] = {
            hw.connector_id: (hw.contactor, hw.phase_switch) for hw in hardware.connectors
            if hw.phase_switch is not None and self._supply[hw.connector_id] > 1}
        self._last_switch: dict[int, float] = {}
        self._busy: dict[int, asyncio.Task[None]] = {}
        self.switches = 0
        smart.on_change(self._on_limits)
        station.add_status_section("phase_switching", self.status)

    def phases_of(self, connector_id: int) -> int:
        _, switch = self._parts[connector_id]
        return self._supply[connector_id] if switch.commanded_closed else 1

    async def start(self) -> None:
        for cid, (main, switch) in self._parts.items():
            if not main.commanded_closed and not switch.commanded_closed:
                switch.close()  # idle: start on all phases
            self.smart.set_phases(cid, self.phases_of(cid))

    async def stop(self) -> None:
        for task in list(self._busy.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._busy.clear()

    def _on_limits(self) -> None:
        for cid in self._parts:
            limit = self.smart.limit_of(cid)
            if limit is None or cid in self._busy or limit.phases == self.phases_of(cid):
                continue
            main, _ = self._parts[cid]
            if not main.commanded_closed and self.station.session_of(cid) is None:
                self._set(cid, limit.phases)  # nothing flows: no pause needed, no interval used
                continue
            last = self._last_switch.get(cid)
            interval = self.config.phase_switch_interval_s
            wait = 0.0 if last is None else last + interval - self.clock.monotonic()
            self._busy[cid] = asyncio.get_running_loop().create_task(self._switch(cid, limit.phases, wait))

    async def _switch(self, cid: int, phases: int, wait: float) -> None:
        try:
            if wait > 0:
                await self.clock.sleep(wait)
                limit = self.smart.limit_of(cid)
                if limit is None or limit.phases == self.phases_of(cid):
                    return
                phases = limit.phases
            main, _ = self._parts[cid]
            log.info("connector %d: switching to %d phase(s)", cid, phases)
            self.station.set_limit(SOURCE, 0.0, cid)
            waited = 0.0
            while main.commanded_closed:
                if waited >= OPEN_TIMEOUT_S:
                    log.error("connector %d: main contactor still closed, phase switch abandoned", cid)
                    return
                await self.clock.sleep(POLL_S)
                waited += POLL_S
            await self.clock.sleep(self.config.phase_switch_pause_s)
            if main.commanded_closed:
                log.error("connector %d: main contactor closed again, phase switch abandoned", cid)
                return
            self._set(cid, phases)
            self._last_switch[cid] = self.clock.monotonic()
            self.switches += 1
        except Exception:
            log.exception("connector %d: phase switch failed", cid)
        finally:
            self.station.set_limit(SOURCE, None, cid)
            self._busy.pop(cid, None)
        self._on_limits()  # the wish may have changed meanwhile

    def _set(self, cid: int, phases: int) -> None:
        main, switch = self._parts[cid]
        if main.commanded_closed:  # never switch under load
            return
        if phases >= self._supply[cid]:
            switch.close()
        else:
            switch.open()
        self.smart.set_phases(cid, self.phases_of(cid))

    def status(self) -> dict[str, Any]:
        return {str(cid): {"phases": self.phases_of(cid), "switching": cid in self._busy}
                for cid in self._parts} | {"switches": self.switches}
