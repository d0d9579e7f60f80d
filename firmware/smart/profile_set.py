"""The set of installed charging profiles: the station's limits on it, installing with replacement,
clearing by criteria, and dropping the profiles of an ended transaction. Version-free: an OCPP package
parses its messages into `firmware.smart.profiles` types and calls these through the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from firmware.smart.profiles import ChargingProfile, Purpose

UNITS = ("Current", "Power")


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """The station's smart-charging capabilities (`[smart_charging]`; each OCPP version reports them
    in its own terms). `allowed_units` names the units as the settings do: "Current" (A), "Power" (W)."""

    connector_ids: Sequence[int]
    max_stack_level: int = 8
    allowed_units: Sequence[str] = ("Current", "Power")
    max_periods: int = 48
    max_profiles: int = 32


def install(installed: Sequence[ChargingProfile], new: ChargingProfile, max_profiles: int,
            replace_same_stack: bool = True) -> tuple[list[ChargingProfile] | None, str]:
    """The profile set after installing `new`: a profile with the same id is replaced, and so is one with
    the same stack level, purpose and connector when `replace_same_stack` (OCPP 1.6 §5.16; a protocol that
    refuses such a profile instead checks before and passes False). (None, reason) when the set would be
    too big."""
    kept = [p for p in installed if not (
        p.id == new.id
        or (replace_same_stack and (p.stack_level, p.purpose, p.connector_id)
            == (new.stack_level, new.purpose, new.connector_id)))]
    if len(kept) + 1 > max_profiles:
        return None, f"MaxChargingProfilesInstalled={max_profiles} reached"
    return [*kept, new], ""


def clear(installed: Sequence[ChargingProfile], *, id: int | None = None, connector_id: int | None = None,
          purpose: Purpose | None = None, stack_level: int | None = None,
          ) -> tuple[list[ChargingProfile], list[ChargingProfile]]:
    """Clearing profiles: (kept, removed). An id selects that profile alone; otherwise every given
    criterion must match (connectorId 0 = profiles set on connector 0); no criteria clears all."""

    def matches(p: ChargingProfile) -> bool:
        if id is not None:
            return p.id == id
        return ((connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level))

    removed = [p for p in installed if matches(p)]
    return [p for p in installed if not matches(p)], removed


def drop_transaction_profiles(installed: Iterable[ChargingProfile],
                              connector_id: int) -> list[ChargingProfile]:
    return [p for p in installed if not (p.purpose is Purpose.TX and p.connector_id == connector_id)]


def utc_time(text: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime (no zone: UTC). ValueError when unreadable."""
    when = datetime.fromisoformat(text.strip())
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_time(when: datetime) -> str:
    """UTC, whole seconds, `Z` suffix."""
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
