"""The running-cost meter-value triggers of the OCA "cost and price" extension, for every OCPP version:
1.6 RunningCost.triggerMeterValue (DataTransfer) and 2.0.1 CostUpdated.customData.triggerMeterValue
(docs/pricing.md, docs/reference/ocpp201.md §7).

* `field` reads a key whatever its case and underscores: back ends differ, and the `ocpp` library rewrites
  every key inside 2.0.1 customData (`atPowerkW` arrives as `at_powerkw`, `kWhPrice` as `k_wh_price`).
* `CostTriggers.parse` takes a triggerMeterValue object: atTime, atEnergykWh (energy of the session),
  atPowerkW (crossed up or down), atCPStatus (the connector entering one of these statuses).
* `CostTriggerWatch` arms them per connector and calls `fire(connector_id, session_id, which)` once for each
  that is reached; the version then sends its own MeterValues. A new session disarms the connector.
  atCPStatus lists the version's status names: the version's `status_name` turns each StatusChanged (the
  core's ConnectorState) into the name its CSMS would see, or None when its CSMS sees no change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, MeterSampled, SessionStarted, StatusChanged
from firmware.ocpp.common.timefmt import parse_ocpp_time
from hal.clock import Clock

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]
Fire = Callable[[int, str, str], None]  # (connector id, session id, trigger name)
StatusName = Callable[[StatusChanged], str | None]  # the version's status entered; None: no visible change


def _folded(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def field(message: Mapping[str, Any], name: str) -> Any:
    """`message[name]`, matched without regard to case or underscores; None when absent."""
    if name in message:
        return message[name]
    wanted = _folded(name)
    for key, value in message.items():
        if isinstance(key, str) and _folded(key) == wanted:
            return value
    return None


def number(message: Mapping[str, Any], name: str) -> float | None:
    value = field(message, name)
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class CostTriggers:
    at_time: datetime | None = None
    at_energy_kwh: float | None = None
    at_power_kw: float | None = None
    at_status: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, trigger: Mapping[str, Any]) -> CostTriggers:
        at_time = field(trigger, "atTime")
        statuses = field(trigger, "atCPStatus")
        return cls(parse_ocpp_time(at_time) if isinstance(at_time, str) else None,
                   number(trigger, "atEnergykWh"), number(trigger, "atPowerkW"),
                   frozenset(s for s in statuses if isinstance(s, str)) if isinstance(statuses, list)
                   else frozenset())


@dataclass
class _Armed:
    session_id: str
    at_energy_wh: float | None = None
    at_power_w: float | None = None
    at_status: frozenset[str] = frozenset()
    last_power_w: float | None = None
    timer: asyncio.Task[None] | None = None


class CostTriggerWatch:
    def __init__(self, station: StationApi, clock: Clock, spawn: Spawn, fire: Fire,
                 status_name: StatusName) -> None:
        self.clock = clock
        self._spawn = spawn
        self._fire = fire
        self._status_name = status_name
        self._armed: dict[int, _Armed] = {}
        self._unsubscribe = station.subscribe(self._on_event)

    def stop(self) -> None:
        self._unsubscribe()
        for armed in self._armed.values():
            if armed.timer is not None:
                armed.timer.cancel()

    def arm(self, connector_id: int, session_id: str, triggers: CostTriggers, meter_start_wh: float) -> None:
        """Replace what was armed on the connector (the CSMS sends the triggers anew with each cost)."""
        self._disarm(connector_id)
        armed = _Armed(session_id, at_status=triggers.at_status)
        if triggers.at_energy_kwh is not None:
            armed.at_energy_wh = meter_start_wh + triggers.at_energy_kwh * 1000.0
        if triggers.at_power_kw is not None:
            armed.at_power_w = triggers.at_power_kw * 1000.0
        if triggers.at_time is not None:
            armed.timer = self._spawn(self._at_time(connector_id, triggers.at_time), "ocpp-cost-at-time")
        self._armed[connector_id] = armed

    def _disarm(self, connector_id: int) -> None:
        old = self._armed.pop(connector_id, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()

    async def _at_time(self, connector_id: int, at: datetime) -> None:
        await self.clock.sleep(max(0.0, (at - self.clock.now()).total_seconds()))
        armed = self._armed.get(connector_id)
        if armed is not None:
            armed.timer = None
            self._fire(connector_id, armed.session_id, "atTime")

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted):
            self._disarm(event.connector_id)
            return
        # Every change goes through status_name, armed or not: a version may track what its CSMS last saw.
        status = self._status_name(event) if isinstance(event, StatusChanged) else None
        armed = self._armed.get(getattr(event, "connector_id", -1))
        if armed is None:
            return
        if isinstance(event, MeterSampled) and event.session_id == armed.session_id:
            if armed.at_energy_wh is not None and event.reading.energy_import_wh >= armed.at_energy_wh:
                armed.at_energy_wh = None
                self._fire(event.connector_id, armed.session_id, "atEnergykWh")
            power = event.reading.total_power_w
            if armed.at_power_w is not None and armed.last_power_w is not None \
                    and (armed.last_power_w < armed.at_power_w) != (power < armed.at_power_w):
                self._fire(event.connector_id, armed.session_id, "atPowerkW")
            armed.last_power_w = power
        elif isinstance(event, StatusChanged) and status is not None and status in armed.at_status:
            self._fire(event.connector_id, armed.session_id, "atCPStatus")
