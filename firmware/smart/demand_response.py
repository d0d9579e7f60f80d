"""External limits: the grid operator's demand-response input and the `chargepi limit` control command.

* `DemandResponse`: while the digital input (StationHardware.demand_response) is active, the station is
  capped to `demand_response.power_w`, shared equally among the connectors with a session (all
  connectors when none charges), converted to amps with each connector's phases and nominal voltage.
  Limit source "demand_response".
* `ExternalLimit`: `chargepi limit set 10A --for 15m [--connector N]` / `chargepi limit clear` through
  the control socket command "limit". Limit source "external"; it lapses by itself after `for_s`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from firmware.control.server import ControlError, ControlServer
from firmware.core.events import CoreEvent, SessionStarted, SessionStopped
from firmware.core.vocabulary import LimitSource
from hal.clock import Clock, Timer

if TYPE_CHECKING:
    from firmware.core.api import StationApi
    from firmware.settings import Settings
    from hal.contract import DigitalInput

log = logging.getLogger(__name__)
MAX_EXTERNAL_A = 80.0


def watts_to_amps(power_w: float, phases: int, voltage_v: float) -> float:
    return power_w / (phases * voltage_v)


class DemandResponse:
    def __init__(self, station: StationApi, settings: Settings, relay: DigitalInput) -> None:
        self.station = station
        self.config = settings.demand_response
        self._connectors = {c.id: c for c in settings.connectors}
        self._relay = relay
        self._charging: set[int] = set()
        self.active = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: list[Callable[[], None]] = [station.subscribe(self._on_event)]
        station.add_status_section("demand_response", self.status)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._charging = {cid for cid in self._connectors if self.station.session_of(cid) is not None}
        self._unsubscribe.append(self._relay.subscribe(self._on_input_any_thread))
        self._set(self._requested(self._relay.active))

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for cid in self._connectors:
            self.station.set_limit(LimitSource.DEMAND_RESPONSE.value, None, cid)

    def _requested(self, level: bool) -> bool:
        return level != self.config.active_low

    def _on_input_any_thread(self, level: bool) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._set, self._requested(level))

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted):
            self._charging.add(event.connector_id)
        elif isinstance(event, SessionStopped):
            self._charging.discard(event.connector_id)
        else:
            return
        if self.active:
            self._apply()

    def _set(self, active: bool) -> None:
        if active != self.active:
            if active:
                log.warning("demand response active: station capped to %.0f W", self.config.power_w)
            else:
                log.warning("demand response released")
        self.active = active
        self._apply()

    def limits(self) -> dict[int, float | None]:
        if not self.active:
            return dict.fromkeys(self._connectors)
        sharing = self._charging or set(self._connectors)
        share_w = self.config.power_w / len(sharing)
        # Connectors without a session get the same share: a new session must not exceed the cap.
        return {cid: math.floor(watts_to_amps(share_w, c.phases, c.nominal_voltage_v) * 10) / 10
                for cid, c in self._connectors.items()}

    def _apply(self) -> None:
        for cid, amps in self.limits().items():
            self.station.set_limit(LimitSource.DEMAND_RESPONSE.value, amps, cid)

    def status(self) -> dict[str, Any]:
        return {"active": self.active, "power_w": self.config.power_w,
                "limits_a": {str(k): v for k, v in self.limits().items()}}


class ExternalLimit:
    """The local operator's limit, set from the control socket; optional expiry."""

    def __init__(self, station: StationApi, clock: Clock, connector_ids: list[int]) -> None:
        self.station = station
        self.clock = clock
        self._ids = connector_ids
        self._limits: dict[int, tuple[float, datetime | None]] = {}
        self._timers: dict[int, Timer] = {}
        station.add_status_section("external_limit", self.status)

    def register(self, control: ControlServer) -> None:
        control.register("limit", self.handle)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def handle(self, args: dict[str, Any]) -> dict[str, Any]:
        action = args.get("action")
        connector = args.get("connector")
        if connector is not None and (isinstance(connector, bool) or connector not in self._ids):
            raise ControlError(f"connector must be one of {self._ids}, got {connector!r}")
        targets = [connector] if connector is not None else list(self._ids)
        if action == "clear":
            for cid in targets:
                self.clear(cid)
        elif action == "set":
            amps, for_s = args.get("amps"), args.get("for_s")
            if isinstance(amps, bool) or not isinstance(amps, int | float) or not 0 <= amps <= MAX_EXTERNAL_A:
                raise ControlError(f"amps must be a number from 0 to {MAX_EXTERNAL_A:g}, got {amps!r}")
            if for_s is not None and (isinstance(for_s, bool) or not isinstance(for_s, int | float)
                                      or for_s <= 0):
                raise ControlError(f"for_s must be a positive number of seconds, got {for_s!r}")
            for cid in targets:
                self.set(cid, float(amps), float(for_s) if for_s is not None else None)
        else:
            raise ControlError("action must be 'set' or 'clear'")
        return self.status()

    def set(self, connector_id: int, amps: float, for_s: float | None) -> None:
        self._cancel(connector_id)
        until = self.clock.now() + timedelta(seconds=for_s) if for_s is not None else None
        self._limits[connector_id] = (amps, until)
        self.station.set_limit(LimitSource.EXTERNAL.value, amps, connector_id)
        if for_s is not None:
            self._timers[connector_id] = self.clock.call_later(for_s, lambda: self.clear(connector_id))
        log.info("external limit %.1f A on connector %d%s", amps, connector_id,
                 f" for {for_s:g} s" if for_s is not None else "")

    def clear(self, connector_id: int) -> None:
        self._cancel(connector_id)
        if self._limits.pop(connector_id, None) is not None:
            log.info("external limit on connector %d cleared", connector_id)
        self.station.set_limit(LimitSource.EXTERNAL.value, None, connector_id)

    def _cancel(self, connector_id: int) -> None:
        timer = self._timers.pop(connector_id, None)
        if timer is not None:
            timer.cancel()

    def status(self) -> dict[str, Any]:
        return {str(cid): {"amps": amps, "until": until.isoformat() if until else None}
                for cid, (amps, until) in sorted(self._limits.items())}
