"""Domain types of charging profiles, independent of any OCPP version (1.6 and 2.0.1 map onto them).

Times are timezone-aware datetimes; durations and period offsets are whole seconds as in OCPP.
`to_dict`/`profile_from_dict` give a stable JSON form used for persistence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Purpose(enum.StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"  # caps the whole station (connector 0 only)
    TX_DEFAULT = "TxDefaultProfile"  # default for every transaction (connector 0) or one connector
    TX = "TxProfile"  # one running transaction; replaces TxDefault while it applies


class Kind(enum.StrEnum):
    ABSOLUTE = "Absolute"  # periods count from startSchedule
    RECURRING = "Recurring"  # periods count from startSchedule, repeated daily or weekly
    RELATIVE = "Relative"  # periods count from the start of the session


class Recurrency(enum.StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(enum.StrEnum):
    AMPS = "A"  # per phase
    WATTS = "W"  # total over the phases in use


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int  # offset from the start of the schedule
    limit: float  # in the schedule's unit; 0 pauses charging
    number_phases: int | None = None  # phases to use; None = as many as the connector has


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]  # sorted by start_s, the first starts at 0 in valid profiles
    duration_s: int | None = None  # None: the last period lasts until the profile ends
    start: datetime | None = None  # startSchedule: needed for Absolute and Recurring
    min_rate: float | None = None  # minChargingRate: informational, the EV's lowest usable rate
    id: int | None = None  # the schedule's own id where the protocol gives one (kept to report it back)


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    connector_id: int  # 0 = the whole station
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    # TxProfile: the transaction it belongs to, as the protocol names it (an integer the CSMS gave, or a
    # string the station made)
    transaction_id: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        s = self.schedule
        return {
            "id": self.id, "connector_id": self.connector_id, "stack_level": self.stack_level,
            "purpose": self.purpose.value, "kind": self.kind.value,
            "recurrency": self.recurrency.value if self.recurrency else None,
            "valid_from": _iso(self.valid_from), "valid_to": _iso(self.valid_to),
            "transaction_id": self.transaction_id,
            "schedule": {
                "unit": s.unit.value, "duration_s": s.duration_s, "start": _iso(s.start),
                "min_rate": s.min_rate, "id": s.id,
                "periods": [[p.start_s, p.limit, p.number_phases] for p in s.periods],
            },
        }


def profile_from_dict(data: dict[str, Any]) -> ChargingProfile:
    s = data["schedule"]
    return ChargingProfile(
        id=int(data["id"]), connector_id=int(data["connector_id"]), stack_level=int(data["stack_level"]),
        purpose=Purpose(data["purpose"]), kind=Kind(data["kind"]),
        recurrency=Recurrency(data["recurrency"]) if data.get("recurrency") else None,
        valid_from=_parse(data.get("valid_from")), valid_to=_parse(data.get("valid_to")),
        transaction_id=data.get("transaction_id"),
        schedule=ChargingSchedule(
            unit=RateUnit(s["unit"]), duration_s=s.get("duration_s"), start=_parse(s.get("start")),
            min_rate=s.get("min_rate"), id=s.get("id"),
            periods=tuple(SchedulePeriod(int(p[0]), float(p[1]), p[2]) for p in s["periods"]),
        ),
    )


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
