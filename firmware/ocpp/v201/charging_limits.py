"""External charging limits in OCPP 2.0.1 (K11-K13; docs/reference/ocpp201.md §14): the CSMS is told when a
limit from outside the CSMS restricts an EVSE.

The charger's own local limit sources are such external limits: load management (the site's share,
chargingLimitSource EMS), demand response (the grid operator's signal, SO), and temperature derating and a
technician's `chargepi limit set` (Other). CSMS profiles (CSO) are never reported (K11.FR.05). A source
*limits* an EVSE while its current is below the EVSE's own maximum (the lower of its rating and the
configured max_current); per EVSE and chargingLimitSource the lowest such current counts.

- It begins to limit, or changes by more than SmartChargingCtrlr.LimitChangeSignificance percent of the
  value last reported: NotifyChargingLimit {chargingLimit {chargingLimitSource}, evseId, and with
  SmartChargingCtrlr.NotifyChargingLimitWithSchedules a one-period schedule of the limit in A}
  (K11.FR.02, K12.FR.02).
- It stops limiting (cleared, or back at the EVSE's maximum): ClearedChargingLimit {chargingLimitSource,
  evseId} (K13.FR.02).
- Either one during a transaction on that EVSE: a TransactionEvent Updated with triggerReason
  ChargingRateChanged (K11.FR.04; the same for a release, reference §14).

The messages go through the durable lane of the outbox (in order with the transaction events, delivered
after an outage); what was reported is kept in the 2.0.1 database, and STARTUP_SETTLE_S after a start the
EVSEs are compared with it again, so a limit that went away while the station was off is reported cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, LimitChanged
from firmware.core.vocabulary import LimitSource
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.common.timefmt import rfc3339
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

# The local sources that are external limits to the CSMS, by ChargingLimitSourceEnumType.
SOURCES: dict[str, str] = {
    LimitSource.LOAD_MANAGEMENT.value: "EMS",
    LimitSource.DEMAND_RESPONSE.value: "SO",
    LimitSource.TEMPERATURE.value: "Other",
    LimitSource.EXTERNAL.value: "Other",
}
# What an EVSE can do without any external limit.
OWN_MAXIMUM = (LimitSource.HARDWARE.value, LimitSource.CONFIGURED.value)
STARTUP_SETTLE_S = 60.0
SIGNIFICANCE = "SmartChargingCtrlr.LimitChangeSignificance"
WITH_SCHEDULES = "SmartChargingCtrlr.NotifyChargingLimitWithSchedules"

# A transaction's Updated with triggerReason ChargingRateChanged: (evse id, when) → False without one.
RateChanged = Callable[[int, datetime], bool]


def external_limits(limits: dict[str, float]) -> dict[str, float]:
    """chargingLimitSource → the lowest current below the EVSE's own maximum (the sources that limit)."""
    own = min((limits[name] for name in OWN_MAXIMUM if name in limits), default=float("inf"))
    found: dict[str, float] = {}
    for name, amps in limits.items():
        kind = SOURCES.get(name)
        if kind is not None and amps < own:
            found[kind] = min(amps, found.get(kind, amps))
    return found


def limit_schedule(schedule_id: int, amps: float, since: datetime) -> dict[str, Any]:
    """An external limit as a ChargingScheduleType (snake_case): `amps` from `since` until released."""
    return {"id": schedule_id, "start_schedule": rfc3339(since), "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": round(amps, 1)}]}


def significant(old: float, new: float, percent: float) -> bool:
    """Has a limit changed by more than `percent` of the value reported (K11.FR.02)?"""
    if old == 0:
        return new != 0
    return abs(new - old) * 100.0 / old > percent


class ChargingLimits201:
    def __init__(self, station: StationApi, db: StateDatabase, outbox: Outbox, wake: Callable[[], None],
                 clock: Clock, model: DeviceModel, rate_changed: RateChanged) -> None:
        self._station = station
        self._db = db
        self._outbox = outbox
        self._wake = wake
        self._clock = clock
        self._model = model
        self._rate_changed = rate_changed
        self._tasks = OwnedTasks(log)
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_limits_reported (evse_id INTEGER NOT NULL, "
                   "source TEXT NOT NULL, amps REAL NOT NULL, PRIMARY KEY (evse_id, source))")
        self._reported: dict[int, dict[str, float]] = {}
        for evse, source, amps in db.execute("SELECT evse_id, source, amps FROM ocpp201_limits_reported"):
            self._reported.setdefault(int(evse), {})[str(source)] = float(amps)
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    def start(self) -> None:
        self._tasks.spawn(self._settled(), "ocpp201-limits-settle")

    def stop(self) -> None:
        self._tasks.cancel_all()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def online(self, cp: ChargePoint201) -> None:
        return None  # the rows go out through the outbox delivery

    def reported(self) -> dict[int, dict[str, float]]:
        """EVSE → chargingLimitSource → the external limit in A the CSMS was told of (GetChargingProfiles
        reports each as a ChargingStationExternalConstraints profile)."""
        return {evse: dict(limits) for evse, limits in self._reported.items() if limits}

    async def _settled(self) -> None:
        """Compare every EVSE with what was reported before the restart, once the sources had time to
        report themselves again (load management's first share, the first temperature reading)."""
        await self._clock.sleep(STARTUP_SETTLE_S)
        for connector in self._station.snapshot()["connectors"]:
            self._compare(int(connector["id"]), connector["limits"])

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, LimitChanged) and (event.source in SOURCES or event.source in OWN_MAXIMUM):
            connector = next((c for c in self._station.snapshot()["connectors"]
                              if c["id"] == event.connector_id), None)
            if connector is not None:
                self._compare(event.connector_id, connector["limits"])

    def _compare(self, evse: int, limits: dict[str, float]) -> None:
        now = self._clock.now()
        current = external_limits(limits)
        reported = self._reported.setdefault(evse, {})
        percent = float(self._model.text(SIGNIFICANCE) or 0)
        changed = False
        for source in sorted(set(current) | set(reported)):
            new, old = current.get(source), reported.get(source)
            if new is None:
                self._cleared(evse, source)
                del reported[source]
            elif old is None or significant(old, new, percent):
                self._notify(evse, source, new, now)
                reported[source] = new
            else:
                continue
            changed = True
        if changed:
            self._rate_changed(evse, now)
            self._wake()

    def _notify(self, evse: int, source: str, amps: float, now: datetime) -> None:
        payload: dict[str, Any] = {"charging_limit": {"charging_limit_source": source}, "evse_id": evse}
        if self._model.flag(WITH_SCHEDULES):
            payload["charging_schedule"] = [limit_schedule(evse, amps, now)]
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO ocpp201_limits_reported (evse_id, source, amps) "
                             "VALUES (?, ?, ?)", (evse, source, amps))
            self._outbox.add("NotifyChargingLimit", payload)
        log.info("EVSE %d: external charging limit %s %.1f A reported", evse, source, amps)

    def _cleared(self, evse: int, source: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM ocpp201_limits_reported WHERE evse_id = ? AND source = ?",
                             (evse, source))
            self._outbox.add("ClearedChargingLimit", {"charging_limit_source": source, "evse_id": evse})
        log.info("EVSE %d: external charging limit %s cleared", evse, source)
