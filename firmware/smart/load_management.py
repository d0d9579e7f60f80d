"""Local load management: the connectors of this controller share one site/circuit limit.

* The budget (amps per phase) is `site_limit_a`; with a grid meter measuring the whole site (house and
  chargers) it is the remaining headroom on the most loaded phase: site_limit - margin - site current
  + what our own connectors draw now. If the grid meter fails or goes silent for meter_timeout_s, each
  charging connector falls back to the minimum current (6 A) within site_limit_a.
* Fair share (water filling): every connector with a session gets an equal share, capped by its own
  hardware limit, the surplus going to the others; never below 6 A. When the budget cannot give every
  connector 6 A, only as many as fit charge and the rest pause (0 A, SuspendedEVSE); the paused ones
  get their turn every rotation_interval_s.
* The result goes to `station.set_limit("load_management", amps, connector_id)`; lowering at once,
  raising only when it is worth it (>= 0.5 A) so the PWM does not chatter with the meter noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from firmware.core.events import CoreEvent, MeterSampled, SessionStarted, SessionStopped
from firmware.core.vocabulary import LimitSource
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.core.api import StationApi
    from firmware.settings import Settings
    from hal.contract import EnergyMeter

log = logging.getLogger(__name__)
MIN_CURRENT_A = 6.0  # IEC 61851-1: the lowest current PWM can offer
RAISE_STEP_A = 0.5
SOURCE = LimitSource.LOAD_MANAGEMENT.value


def allocate(budget_a: float, caps: Mapping[int, float], order: Sequence[int],
             minimum_a: float = MIN_CURRENT_A) -> dict[int, float]:
    """Share budget_a among the connectors in `order` (each capped by caps[cid]).

    The first `k` connectors in `order` are served, k being as many as can get `minimum_a`; the others
    get 0. Served connectors share by water filling, rounded down to 0.1 A."""
    budget_a = max(0.0, budget_a)
    served_count = min(len(order), int(budget_a // minimum_a + 1e-9))
    served = list(order[:served_count])
    shares: dict[int, float] = dict.fromkeys(order, 0.0)
    remaining = budget_a
    for i, cid in enumerate(sorted(served, key=lambda c: caps[c])):
        share = min(caps[cid], remaining / (len(served) - i))
        shares[cid] = math.floor(share * 10 + 1e-6) / 10
        remaining -= shares[cid]
    return shares


class LoadManager:
    def __init__(self, station: StationApi, clock: Clock, settings: Settings,
                 grid_meter: EnergyMeter | None = None) -> None:
        self.station = station
        self.clock = clock
        self.config = settings.load_management
        self._caps = {c.id: min(c.rated_current_a, c.max_current_a or c.rated_current_a)
                      for c in settings.connectors}
        self._grid_meter = grid_meter if self.config.use_grid_meter else None
        self._order: list[int] = []  # connectors with a session, in turn order
        self._draw: dict[int, tuple[float, ...]] = {}  # last measured current per phase, per connector
        self._site_current: tuple[float, ...] | None = None
        self._site_seen: float | None = None  # monotonic time of the last good grid reading
        self._applied: dict[int, float | None] = dict.fromkeys(self._caps)
        self._rotated_at = clock.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.budget_a = self.config.site_limit_a
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)
        station.add_status_section("load_management", self.status)

    async def start(self) -> None:
        self._order = [cid for cid in self._caps if self.station.session_of(cid) is not None]
        self._task = asyncio.create_task(self._poll_loop())
        self.rebalance()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ---- inputs ----------------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted) and event.connector_id in self._caps:
            if event.connector_id not in self._order:
                self._order.append(event.connector_id)
            self.rebalance()
        elif isinstance(event, SessionStopped) and event.connector_id in self._caps:
            if event.connector_id in self._order:
                self._order.remove(event.connector_id)
            self._draw.pop(event.connector_id, None)
            self.rebalance()
        elif isinstance(event, MeterSampled) and event.connector_id in self._caps:
            self._draw[event.connector_id] = event.reading.current_a

    async def _poll_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.poll_interval_s)
            if self._grid_meter is not None:
                await self._read_grid()
            if self._order and self.clock.monotonic() - self._rotated_at >= self.config.rotation_interval_s:
                self._rotate()
            self.rebalance()

    async def _read_grid(self) -> None:
        assert self._grid_meter is not None
        try:
            reading = await self._grid_meter.read()
        except Exception as exc:  # a failing meter must not stop load management
            log.warning("grid meter read failed: %s", exc)
            return
        if reading.current_a:
            self._site_current = reading.current_a
            self._site_seen = self.clock.monotonic()

    def _rotate(self) -> None:
        served = sum(1 for cid in self._order if (self._applied.get(cid) or 0) > 0)
        if 0 < served < len(self._order):
            self._order = self._order[served:] + self._order[:served]
            log.info("load management: paused connectors take their turn (%s)", self._order)
        self._rotated_at = self.clock.monotonic()

    # ---- decision --------------------------------------------------------------------------------
    def _budget(self) -> float:
        limit = self.config.site_limit_a
        if self._grid_meter is None:
            return limit
        fresh = self._site_seen is not None and \
            self.clock.monotonic() - self._site_seen <= self.config.meter_timeout_s
        if not fresh or self._site_current is None:
            return min(limit, MIN_CURRENT_A * len(self._order))  # no data: the minimum for each
        phases = len(self._site_current)
        headroom = []
        for p in range(phases):
            own = sum(draw[p] for cid, draw in self._draw.items() if cid in self._order and p < len(draw))
            headroom.append(limit - self.config.safety_margin_a - self._site_current[p] + own)
        return max(0.0, min(headroom))

    def rebalance(self) -> None:
        self.budget_a = self._budget()
        shares = allocate(self.budget_a, self._caps, self._order)
        for cid in self._caps:
            wanted = shares.get(cid) if cid in self._order else None
            current = self._applied.get(cid)
            if wanted == current:
                continue
            if (wanted is not None and current is not None and current >= MIN_CURRENT_A
                    and current < wanted < current + RAISE_STEP_A):
                continue  # not worth a PWM change
            self._applied[cid] = wanted
            self.station.set_limit(SOURCE, wanted, cid)

    def status(self) -> dict[str, Any]:
        return {"budget_a": round(self.budget_a, 1), "site_limit_a": self.config.site_limit_a,
                "grid_meter": self._grid_meter is not None,
                "site_current_a": list(self._site_current) if self._site_current else None,
                "turn_order": list(self._order),
                "limits_a": {str(k): v for k, v in self._applied.items()}}
