"""OCPP 1.6 Smart Charging <-> the version-free profiles of firmware/smart: parsing and validating
SetChargingProfile (and RemoteStartTransaction's profile), rendering composite schedules, the
read-only configuration keys, and `SmartCharging16`, the 1.6 face of the smart-charging service.

Works on the `ocpp` library's snake_case payload dicts (limits arrive as `Decimal`,
docs/reference/ocpp-libraries.md §1.4). Nothing here raises on bad input: every function returns a clear
rejection reason instead.

Choices for what real back ends send (docs/reference/ocpp-libraries.md §3.1):
* A Relative ChargePointMaxProfile (sent e.g. by the Home Assistant integration) is accepted; a station
  cap has no session to count from, so it counts from the moment it was received (stored as Absolute).
* An Absolute profile without startSchedule likewise starts when it was received.
* `limit 0` is accepted and pauses charging (SuspendedEVSE); any limit below 6 A does the same.
* `numberPhases 1` asks for one phase; honoured on connectors with a phase-switch contactor.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from firmware.ocpp.common.schedule import composite_periods
from firmware.smart.engine import ConnectorContext, Segment
from firmware.smart.profile_set import ProfileRules, format_time, utc_time
from firmware.smart.profiles import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)
from firmware.smart.service import SmartChargingService

log = logging.getLogger(__name__)

UNIT_NAMES = {"Current": RateUnit.AMPS, "Power": RateUnit.WATTS}


def configuration_keys(rules: ProfileRules, switches_phases: bool = False) -> dict[str, str]:
    """The 1.6 read-only Smart Charging keys (OCPP 1.6 §9.4) for these capabilities."""
    return {
        "ChargeProfileMaxStackLevel": str(rules.max_stack_level),
        "ChargingScheduleAllowedChargingRateUnit": ",".join(rules.allowed_units),
        "ChargingScheduleMaxPeriods": str(rules.max_periods),
        "MaxChargingProfilesInstalled": str(rules.max_profiles),
        "ConnectorSwitch3to1PhaseSupported": "true" if switches_phases else "false",
    }


class Rejected(Exception):
    """Internal: carries a rejection reason to the public functions, which return it."""


def parse_set_charging_profile(
    connector_id: Any, cs_charging_profiles: Any, *, active_transaction_id: int | None,
    now: datetime, rules: ProfileRules,
) -> tuple[ChargingProfile | None, str]:
    """SetChargingProfile.req -> (profile, "") or (None, reason)."""
    try:
        return _parse(connector_id, cs_charging_profiles, active_transaction_id, now, rules), ""
    except Rejected as exc:
        return None, str(exc)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        return None, f"malformed charging profile: {exc!r}"


def _int(data: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise Rejected(f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float) or int(value) != value:
        raise Rejected(f"{key} must be an integer, got {value!r}")
    return int(value)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise Rejected(f"{key} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise Rejected(f"{key} must be a finite number >= 0, got {value!r}")
    return result


def parse_time(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(f"{key} must be a date-time string, got {value!r}")
    try:
        return utc_time(value)
    except ValueError:
        raise Rejected(f"{key} is not an RFC 3339 date-time: {value!r}") from None


def _parse(connector_id: Any, data: Any, active_tx: int | None, now: datetime,
           rules: ProfileRules) -> ChargingProfile:
    if not isinstance(data, dict):
        raise Rejected("csChargingProfiles must be an object")
    if isinstance(connector_id, bool) or not isinstance(connector_id, int):
        raise Rejected(f"connectorId must be an integer, got {connector_id!r}")
    if connector_id != 0 and connector_id not in rules.connector_ids:
        raise Rejected(f"connector {connector_id} does not exist")
    profile_id = _int(data, "charging_profile_id")
    stack_level = _int(data, "stack_level")
    assert profile_id is not None and stack_level is not None
    if not 0 <= stack_level <= rules.max_stack_level:
        raise Rejected(f"stackLevel {stack_level} outside 0..{rules.max_stack_level} "
                       "(ChargeProfileMaxStackLevel)")
    try:
        purpose = Purpose(str(data.get("charging_profile_purpose")))
    except ValueError:
        raise Rejected(f"unknown ChargingProfilePurpose {data.get('charging_profile_purpose')!r}") from None
    try:
        kind = Kind(str(data.get("charging_profile_kind")))
    except ValueError:
        raise Rejected(f"unknown ChargingProfileKind {data.get('charging_profile_kind')!r}") from None
    recurrency_text = data.get("recurrency_kind")
    try:
        recurrency = Recurrency(recurrency_text) if recurrency_text is not None else None
    except ValueError:
        raise Rejected(f"unknown recurrencyKind {recurrency_text!r}") from None
    transaction_id = _int(data, "transaction_id", required=False)

    if purpose is Purpose.CHARGE_POINT_MAX and connector_id != 0:
        raise Rejected("ChargePointMaxProfile can only be set on connector 0")
    if purpose is Purpose.TX:
        if connector_id == 0:
            raise Rejected("TxProfile needs a connector id > 0")
        if active_tx is None:
            raise Rejected(f"TxProfile but no transaction is active on connector {connector_id}")
        if transaction_id is not None and transaction_id != active_tx:
            raise Rejected(f"TxProfile for transaction {transaction_id}, but transaction {active_tx} "
                           f"is active on connector {connector_id}")
        transaction_id = active_tx
    else:
        transaction_id = None

    schedule_data = data.get("charging_schedule")
    if not isinstance(schedule_data, dict):
        raise Rejected("chargingSchedule is missing")
    unit_text = schedule_data.get("charging_rate_unit")
    unit = {"A": RateUnit.AMPS, "W": RateUnit.WATTS}.get(str(unit_text))
    if unit is None:
        raise Rejected(f"chargingRateUnit must be A or W, got {unit_text!r}")
    if unit not in {UNIT_NAMES[u] for u in rules.allowed_units}:
        raise Rejected(f"chargingRateUnit {unit.value} not allowed "
                       f"(ChargingScheduleAllowedChargingRateUnit={','.join(rules.allowed_units)})")
    raw_periods = schedule_data.get("charging_schedule_period")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise Rejected("chargingSchedulePeriod must be a non-empty list")
    if len(raw_periods) > rules.max_periods:
        raise Rejected(f"{len(raw_periods)} periods, more than ChargingScheduleMaxPeriods="
                       f"{rules.max_periods}")
    periods: list[SchedulePeriod] = []
    for i, raw in enumerate(raw_periods):
        if not isinstance(raw, dict):
            raise Rejected(f"chargingSchedulePeriod[{i}] must be an object")
        start = _int(raw, "start_period")
        phases = _int(raw, "number_phases", required=False)
        assert start is not None
        if phases is not None and phases not in (1, 2, 3):
            raise Rejected(f"chargingSchedulePeriod[{i}].numberPhases must be 1, 2 or 3, got {phases}")
        if periods and start <= periods[-1].start_s:
            raise Rejected("chargingSchedulePeriod startPeriod values must increase")
        periods.append(SchedulePeriod(start, _number(raw.get("limit"), f"period[{i}].limit"), phases))
    if periods[0].start_s != 0:
        raise Rejected("the first chargingSchedulePeriod must have startPeriod 0")
    duration = _int(schedule_data, "duration", required=False)
    if duration is not None and duration < 0:
        raise Rejected("duration must be >= 0")
    start_schedule = parse_time(schedule_data.get("start_schedule"), "startSchedule")
    min_rate_raw = schedule_data.get("min_charging_rate")
    min_rate = _number(min_rate_raw, "minChargingRate") if min_rate_raw is not None else None

    if kind is Kind.RECURRING:
        if recurrency is None:
            raise Rejected("a Recurring profile needs recurrencyKind")
        if start_schedule is None:
            raise Rejected("a Recurring profile needs startSchedule")
    elif kind is Kind.ABSOLUTE and start_schedule is None:
        start_schedule = now  # starts on receipt (see module docstring)
    elif kind is Kind.RELATIVE:
        if purpose is Purpose.CHARGE_POINT_MAX:
            kind, start_schedule = Kind.ABSOLUTE, now  # no session to count from: counts from receipt
        else:
            start_schedule = None  # counts from the session start; startSchedule is meaningless
    if kind is not Kind.RECURRING:
        recurrency = None

    valid_from = parse_time(data.get("valid_from"), "validFrom")
    valid_to = parse_time(data.get("valid_to"), "validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Rejected("validTo must be after validFrom")
    if valid_to is not None and valid_to <= now:
        raise Rejected("validTo is in the past")

    return ChargingProfile(
        id=profile_id, connector_id=connector_id, stack_level=stack_level, purpose=purpose, kind=kind,
        recurrency=recurrency, valid_from=valid_from, valid_to=valid_to, transaction_id=transaction_id,
        schedule=ChargingSchedule(unit=unit, periods=tuple(periods), duration_s=duration,
                                  start=start_schedule, min_rate=min_rate),
    )


def composite_payload(connector_id: int, t0: datetime, duration_s: int, segments: Sequence[Segment],
                      unit: RateUnit, ctx: ConnectorContext) -> dict[str, Any]:
    """GetCompositeSchedule.conf fields (snake_case, floats, UTC with Z). `t0` (whole seconds) is the
    scheduleStart; the periods are firmware.ocpp.common.schedule.composite_periods."""
    periods = composite_periods(t0, duration_s, segments, unit, ctx)
    schedule_start = format_time(t0)
    return {
        "status": "Accepted", "connector_id": connector_id, "schedule_start": schedule_start,
        "charging_schedule": {"duration": duration_s, "start_schedule": schedule_start,
                              "charging_rate_unit": unit.value, "charging_schedule_period": periods},
    }


class SmartCharging16:
    """The smart-charging service in OCPP 1.6 terms: what the 1.6 handlers and the adapter call. Every
    method answers (never raises on a bad payload)."""

    def __init__(self, service: SmartChargingService) -> None:
        self.service = service

    def configuration_keys(self) -> dict[str, str]:
        return configuration_keys(self.service.rules, self.service.switches_phases)

    def install(self, connector_id: int, cs_charging_profiles: Any,
                active_transaction_id: int | None) -> tuple[bool, str]:
        """SetChargingProfile: (True, "") when installed and already enforced, else (False, reason)."""
        try:
            profile, reason = parse_set_charging_profile(
                connector_id, cs_charging_profiles, active_transaction_id=active_transaction_id,
                now=self.service.clock.now(), rules=self.service.rules)
            if profile is None:
                return False, reason
            return self.service.install_profile(profile)
        except Exception as exc:  # never let a bad profile escape as an exception
            log.exception("installing a charging profile failed")
            return False, f"internal error: {exc}"

    def accept_remote_start_profile(self, connector_id: int | None, cs_charging_profile: Any,
                                    wait_s: float | None = None) -> bool:
        """RemoteStartTransaction's chargingProfile: a TxProfile, checked now and installed when the session
        it asked for starts (on that connector, or on any when none was named) within the connection
        timeout. False (the remote start is Rejected) when it is not a valid TxProfile."""
        data = cs_charging_profile if isinstance(cs_charging_profile, dict) else None
        if data is None or data.get("charging_profile_purpose") != Purpose.TX.value:
            log.warning("RemoteStartTransaction chargingProfile rejected: not a TxProfile")
            return False
        rules = self.service.rules
        probe = connector_id if connector_id else rules.connector_ids[0]
        profile, reason = parse_set_charging_profile(
            probe, data, active_transaction_id=data.get("transaction_id") or 0, now=self.service.clock.now(),
            rules=rules)
        if profile is None:
            log.warning("RemoteStartTransaction chargingProfile rejected: %s", reason)
            return False
        transaction_id = data.get("transaction_id") or 0
        self.service.hold_for_session(
            connector_id or None, lambda cid: self.install(cid, data, transaction_id), wait_s)
        return True

    def clear(self, id: int | None = None, connector_id: int | None = None, purpose: str | None = None,
              stack_level: int | None = None) -> bool:
        """ClearChargingProfile: True (Accepted) when at least one profile was removed (else Unknown)."""
        try:
            wanted = Purpose(purpose) if purpose is not None else None
        except ValueError:  # no profile has a purpose 1.6 does not know
            if id is None:
                return False
            wanted = None  # an id selects that profile alone, whatever else is given
        return self.service.clear(id=id, connector_id=connector_id, purpose=wanted, stack_level=stack_level)

    def composite_schedule(self, connector_id: int, duration_s: int,
                           unit: str | None = None) -> dict[str, Any] | None:
        """GetCompositeSchedule.conf fields, or None (Rejected) for an unknown connector or unit."""
        rate = {None: RateUnit.AMPS, "A": RateUnit.AMPS, "W": RateUnit.WATTS}.get(unit)
        if rate is None:
            return None
        composite = self.service.composite(connector_id, duration_s)
        if composite is None:
            return None
        return composite_payload(connector_id, composite.start, composite.duration_s, composite.segments,
                                 rate, composite.context)
