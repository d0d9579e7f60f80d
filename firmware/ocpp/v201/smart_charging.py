"""OCPP 2.0.1 Smart Charging (functional block K) on the neutral engine of firmware/smart: the 2.0.1
ChargingProfile <-> the charger's `ChargingProfile`, its validation, and the CSMS requests
SetChargingProfile (K01), ClearChargingProfile (K10), GetChargingProfiles → ReportChargingProfiles (K09)
and GetCompositeSchedule (K08). The profiles are enforced by the same service as 1.6 profiles
(firmware/smart/service.py: the arbiter's `smart_charging` source, hence the PWM duty).

Vocabulary (docs/reference/ocpp201.md §14): EVSE n is connector n; ChargingStationMaxProfile is the
charger's station cap (`Purpose.CHARGE_POINT_MAX`); a TxProfile belongs to the station's own string
transactionId; a profile has a LIST of chargingSchedule (one here: K01.FR.34, no ISO 15118).

Validation (Rejected with the P2-App reasonCode, nothing installed):
- evseId unknown: UnknownEvse (K01.FR.28); stackLevel outside 0..SmartChargingCtrlr.ProfileStackLevel:
  InvalidStackLevel;
- ChargingStationExternalConstraints from the CSMS: InvalidProfile (K01.FR.22); ChargingStationMaxProfile
  on an EVSE > 0 (K04.FR.03) or Relative (K01.FR.38): InvalidProfile;
- TxProfile on EVSE 0 (K01.FR.16): InvalidProfile; without a running transaction on the EVSE (K01.FR.09)
  or with another transactionId (K01.FR.33): TxNotFound; without transactionId (K01.FR.03): MissingParam;
- not exactly one chargingSchedule (K01.FR.34), more periods than PeriodsPerSchedule, a first startPeriod
  other than 0 (K01.FR.31), periods not ascending (K01.FR.35), startSchedule missing for Absolute/Recurring
  (K01.FR.40) or present for Relative (K01.FR.41), a negative or non-finite limit: InvalidSchedule;
- chargingRateUnit not in SmartChargingCtrlr.RateUnit (K01.FR.26): UnsupportedRateUnit;
- numberPhases below the EVSE's phases where it cannot switch phases (K01.FR.43), any phaseToUse
  (K01.FR.48: ACPhaseSwitchingSupported is not offered): InvalidSchedule;
- stack-level conflicts: another profile id with the same stackLevel, purpose and evseId and overlapping
  validity (K01.FR.06), a TxProfile with the same stackLevel and transactionId (K01.FR.39), a
  TxDefaultProfile on EVSE 0 against one on an EVSE at the same stackLevel or the reverse
  (K01.FR.52/53): DuplicateProfile. The same id replaces the profile (K01.FR.05).
Every answer comes from a function that never raises, so bad input never turns into an InternalError.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from firmware.ocpp.common.schedule import composite_periods
from firmware.ocpp.v201.charge_point import after, on
from firmware.ocpp.v201.charging_limits import SOURCES, limit_schedule
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.smart.profile_set import format_time, utc_time
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

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

# 2.0.1 purpose names <-> the charger's (ChargingStationExternalConstraints is never a CSMS profile).
PURPOSES = {"ChargingStationMaxProfile": Purpose.CHARGE_POINT_MAX, "TxDefaultProfile": Purpose.TX_DEFAULT,
            "TxProfile": Purpose.TX}
PURPOSE_NAMES = {purpose: name for name, purpose in PURPOSES.items()}
EXTERNAL = "ChargingStationExternalConstraints"
UNITS = {"A": RateUnit.AMPS, "W": RateUnit.WATTS}
CSO = "CSO"  # chargingLimitSource of every profile a CSMS installed
REPORT_PROFILES_PER_MESSAGE = 10  # ReportChargingProfiles parts (K09.FR.02: tbc on all but the last)

# The transaction running on an EVSE (its transactionId), None when there is none.
ActiveTransaction = Callable[[int], str | None]


class Refused(Exception):
    """Internal: a rejection with its reasonCode and the reason in words."""

    def __init__(self, code: str, info: str) -> None:
        super().__init__(info)
        self.code = code


def _int(data: dict[str, Any], key: str, code: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise Refused("MissingParam", f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float) or int(value) != value:
        raise Refused(code, f"{key} must be an integer, got {value!r}")
    return int(value)


def _limit(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise Refused("InvalidSchedule", f"{key} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise Refused("InvalidSchedule", f"{key} must be a finite number >= 0, got {value!r}")
    return result


def _time(value: Any, key: str, code: str) -> datetime | None:
    if value is None:
        return None
    try:
        return utc_time(str(value))
    except ValueError:
        raise Refused(code, f"{key} is not an RFC 3339 date-time: {value!r}") from None


def _overlap(a: ChargingProfile, b: ChargingProfile) -> bool:
    """Whether the validity periods meet (an absent validFrom/validTo is open-ended, K01.FR.10)."""
    return ((a.valid_from is None or b.valid_to is None or a.valid_from < b.valid_to)
            and (b.valid_from is None or a.valid_to is None or b.valid_from < a.valid_to))


@dataclass(frozen=True, slots=True)
class ProfileRules201:
    """What SetChargingProfile is checked against: SmartChargingCtrlr's limits and the EVSEs."""

    evse_phases: Mapping[int, tuple[int, bool]]  # EVSE id -> (wired phases, can switch phases)
    max_stack_level: int  # ProfileStackLevel
    rate_units: Sequence[str]  # RateUnit members: "A", "W"
    max_periods: int  # PeriodsPerSchedule

    def evse_ids(self) -> Sequence[int]:
        return sorted(self.evse_phases)

    def phases(self, evse_id: int) -> list[tuple[int, bool]]:
        """(wired phases, can switch) of the EVSE, or of every EVSE for 0."""
        return list(self.evse_phases.values()) if evse_id == 0 else [self.evse_phases[evse_id]]

    @classmethod
    def of(cls, service: SmartChargingService, model: DeviceModel) -> ProfileRules201:
        ids = set(service.rules.connector_ids)
        return cls({c.id: (c.phases, service.can_switch_phases(c.id)) for c in service.settings.connectors
                    if c.id in ids},
                   model.integer("SmartChargingCtrlr.ProfileStackLevel"),
                   model.members("SmartChargingCtrlr.RateUnit"),
                   model.integer("SmartChargingCtrlr.PeriodsPerSchedule"))


def parse_profile(evse_id: Any, data: Any, *, active_transaction: ActiveTransaction, now: datetime,
                  rules: ProfileRules201, installed: Sequence[ChargingProfile],
                  ) -> tuple[ChargingProfile | None, str, str]:
    """SetChargingProfileRequest (snake_case, as the `ocpp` library gives it) -> (profile, "", "") or
    (None, reasonCode, why)."""
    try:
        profile = _parse(evse_id, data, active_transaction, now, rules)
        _check_conflicts(profile, installed)
        return profile, "", ""
    except Refused as exc:
        return None, exc.code, str(exc)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        return None, "InvalidProfile", f"malformed charging profile: {exc!r}"


def _parse(evse_id: Any, data: Any, active_transaction: ActiveTransaction, now: datetime,
           rules: ProfileRules201) -> ChargingProfile:
    if not isinstance(data, dict):
        raise Refused("InvalidProfile", "chargingProfile must be an object")
    if isinstance(evse_id, bool) or not isinstance(evse_id, int) or \
            (evse_id != 0 and evse_id not in rules.evse_ids()):
        raise Refused("UnknownEvse", f"EVSE {evse_id!r} does not exist")  # K01.FR.28
    profile_id = _int(data, "id", "InvalidProfile")
    stack_level = _int(data, "stack_level", "InvalidStackLevel")
    assert profile_id is not None and stack_level is not None
    top = rules.max_stack_level
    if not 0 <= stack_level <= top:
        raise Refused("InvalidStackLevel", f"stackLevel {stack_level} outside 0..{top} (ProfileStackLevel)")
    purpose_name = data.get("charging_profile_purpose")
    if purpose_name == EXTERNAL:
        raise Refused("InvalidProfile", "ChargingStationExternalConstraints is set locally, never by a CSMS")
    purpose = PURPOSES.get(str(purpose_name))
    if purpose is None:
        raise Refused("InvalidProfile", f"unknown chargingProfilePurpose {purpose_name!r}")
    try:
        kind = Kind(str(data.get("charging_profile_kind")))
    except ValueError:
        kind_text = data.get("charging_profile_kind")
        raise Refused("InvalidProfile", f"unknown chargingProfileKind {kind_text!r}") from None
    recurrency_text = data.get("recurrency_kind")
    try:
        recurrency = Recurrency(recurrency_text) if recurrency_text is not None else None
    except ValueError:
        raise Refused("InvalidProfile", f"unknown recurrencyKind {recurrency_text!r}") from None

    transaction_id: str | None = None
    if purpose is Purpose.CHARGE_POINT_MAX:
        if evse_id != 0:
            raise Refused("InvalidProfile", "ChargingStationMaxProfile only on EVSE 0")  # K04.FR.03
        if kind is Kind.RELATIVE:
            raise Refused("InvalidProfile", "ChargingStationMaxProfile cannot be Relative")  # K01.FR.38
    elif purpose is Purpose.TX:
        if evse_id == 0:
            raise Refused("InvalidProfile", "TxProfile needs an evseId > 0")  # K01.FR.16
        running = active_transaction(evse_id)
        if running is None:
            raise Refused("TxNotFound", f"no transaction runs on EVSE {evse_id}")  # K01.FR.09
        given = data.get("transaction_id")
        if given is None:
            raise Refused("MissingParam", "a TxProfile needs its transactionId")  # K01.FR.03
        if str(given) != running:
            raise Refused("TxNotFound", f"transaction {given!r} does not run on EVSE {evse_id}")  # K01.FR.33
        transaction_id = running

    schedules = data.get("charging_schedule")
    if not isinstance(schedules, list) or len(schedules) != 1:
        raise Refused("InvalidSchedule", "exactly one chargingSchedule without ISO 15118")  # K01.FR.34
    schedule = _schedule(schedules[0], kind, recurrency, rules, evse_id)

    valid_from = _time(data.get("valid_from"), "validFrom", "InvalidProfile")
    valid_to = _time(data.get("valid_to"), "validTo", "InvalidProfile")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Refused("InvalidProfile", "validTo must be after validFrom")
    if valid_to is not None and valid_to <= now:
        raise Refused("InvalidProfile", "validTo is in the past")
    return ChargingProfile(
        id=profile_id, connector_id=evse_id, stack_level=stack_level, purpose=purpose, kind=kind,
        recurrency=recurrency if kind is Kind.RECURRING else None, valid_from=valid_from, valid_to=valid_to,
        transaction_id=transaction_id, schedule=schedule)


def _schedule(raw: Any, kind: Kind, recurrency: Recurrency | None, rules: ProfileRules201,
              evse_id: int) -> ChargingSchedule:
    if not isinstance(raw, dict):
        raise Refused("InvalidSchedule", "chargingSchedule must be an object")
    schedule_id = _int(raw, "id", "InvalidSchedule")
    unit_text = raw.get("charging_rate_unit")
    unit = UNITS.get(str(unit_text))
    allowed = rules.rate_units
    if unit is None or unit.value not in allowed:
        raise Refused("UnsupportedRateUnit",  # K01.FR.26
                      f"chargingRateUnit {unit_text!r} not in RateUnit {','.join(allowed)}")
    raw_periods = raw.get("charging_schedule_period")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise Refused("InvalidSchedule", "chargingSchedulePeriod must be a non-empty list")
    most = rules.max_periods
    if len(raw_periods) > most:
        raise Refused("InvalidSchedule", f"{len(raw_periods)} periods, more than PeriodsPerSchedule={most}")
    wired = rules.phases(evse_id)
    periods: list[SchedulePeriod] = []
    for i, period in enumerate(raw_periods):
        if not isinstance(period, dict):
            raise Refused("InvalidSchedule", f"chargingSchedulePeriod[{i}] must be an object")
        start = _int(period, "start_period", "InvalidSchedule")
        phases = _int(period, "number_phases", "InvalidSchedule", required=False)
        assert start is not None
        if period.get("phase_to_use") is not None:  # K01.FR.48
            raise Refused("InvalidSchedule", "phaseToUse: the station cannot choose the phase (no "
                                             "ACPhaseSwitchingSupported)")
        if phases is not None:
            if phases not in (1, 2, 3):
                raise Refused("InvalidSchedule", f"numberPhases must be 1, 2 or 3, got {phases}")
            if any(phases < count and not switch for count, switch in wired):  # K01.FR.43
                raise Refused("InvalidSchedule", f"numberPhases {phases}: the EVSE cannot switch phases")
        if periods and start <= periods[-1].start_s:
            raise Refused("InvalidSchedule", "startPeriod values must increase")  # K01.FR.35
        periods.append(SchedulePeriod(start, _limit(period.get("limit"), f"period[{i}].limit"), phases))
    if periods[0].start_s != 0:
        raise Refused("InvalidSchedule", "the first startPeriod must be 0")  # K01.FR.31
    duration = _int(raw, "duration", "InvalidSchedule", required=False)
    if duration is not None and duration < 0:
        raise Refused("InvalidSchedule", "duration must be >= 0")
    start_schedule = _time(raw.get("start_schedule"), "startSchedule", "InvalidSchedule")
    if kind is Kind.RELATIVE and start_schedule is not None:
        raise Refused("InvalidSchedule", "a Relative profile has no startSchedule")  # K01.FR.41
    if kind is not Kind.RELATIVE and start_schedule is None:
        raise Refused("InvalidSchedule", f"an {kind.value} profile needs startSchedule")  # K01.FR.40
    if kind is Kind.RECURRING and recurrency is None:
        raise Refused("InvalidProfile", "a Recurring profile needs recurrencyKind")
    min_raw = raw.get("min_charging_rate")
    min_rate = _limit(min_raw, "minChargingRate") if min_raw is not None else None
    return ChargingSchedule(unit=unit, periods=tuple(periods), duration_s=duration, start=start_schedule,
                            min_rate=min_rate, id=schedule_id)


def _check_conflicts(new: ChargingProfile, installed: Sequence[ChargingProfile]) -> None:
    for old in installed:
        if old.id == new.id or old.stack_level != new.stack_level or old.purpose is not new.purpose:
            continue  # the same id replaces (K01.FR.05)
        if new.purpose is Purpose.TX:
            if old.transaction_id == new.transaction_id:  # K01.FR.39
                raise Refused("DuplicateProfile", f"TxProfile {old.id} has stackLevel {old.stack_level} "
                                                  "for this transaction")
            continue
        if old.connector_id == new.connector_id and _overlap(old, new):  # K01.FR.06
            raise Refused("DuplicateProfile", f"profile {old.id} has the same stackLevel, purpose and "
                                              "evseId with an overlapping validity")
        if new.purpose is Purpose.TX_DEFAULT and (old.connector_id == 0) != (new.connector_id == 0):
            raise Refused("DuplicateProfile", f"TxDefaultProfile {old.id} on EVSE {old.connector_id} has "
                                              "the same stackLevel")  # K01.FR.52/53


EXTERNAL_PURPOSE = "ChargingStationExternalConstraints"
EXTERNAL_SOURCES = tuple(dict.fromkeys(SOURCES.values()))  # EMS, SO, Other: those of the local limits


def external_profile(profile_id: int, amps: float, now: datetime) -> dict[str, Any]:
    """An external limit as the ChargingStationExternalConstraints profile it amounts to: in force from now
    until it is released (snake_case ChargingProfileType)."""
    return {"id": profile_id, "stack_level": 0, "charging_profile_purpose": EXTERNAL_PURPOSE,
            "charging_profile_kind": "Absolute",
            "charging_schedule": [limit_schedule(-profile_id, amps, now)]}


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """The charger's profile as a 2.0.1 ChargingProfileType (snake_case) for ReportChargingProfiles."""
    s = profile.schedule
    schedule: dict[str, Any] = {
        "id": s.id if s.id is not None else profile.id, "charging_rate_unit": s.unit.value,
        "charging_schedule_period": [
            {"start_period": p.start_s, "limit": p.limit,
             **({"number_phases": p.number_phases} if p.number_phases is not None else {})}
            for p in s.periods]}
    if s.start is not None and profile.kind is not Kind.RELATIVE:
        schedule["start_schedule"] = format_time(s.start)
    if s.duration_s is not None:
        schedule["duration"] = s.duration_s
    if s.min_rate is not None:
        schedule["min_charging_rate"] = s.min_rate
    out: dict[str, Any] = {"id": profile.id, "stack_level": profile.stack_level,
                           "charging_profile_purpose": PURPOSE_NAMES[profile.purpose],
                           "charging_profile_kind": profile.kind.value, "charging_schedule": [schedule]}
    if profile.recurrency is not None:
        out["recurrency_kind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["valid_from"] = format_time(profile.valid_from)
    if profile.valid_to is not None:
        out["valid_to"] = format_time(profile.valid_to)
    if profile.purpose is Purpose.TX and profile.transaction_id is not None:
        out["transaction_id"] = str(profile.transaction_id)
    return out


def _status_info(code: str, info: str) -> dict[str, str]:
    return {"reason_code": code, "additional_info": info[:512]}


class SmartCharging201:
    """The Smart Charging block of the 2.0.1 adapter (firmware/ocpp/v201/feature.py). `active_transaction`
    names the 2.0.1 transaction running on an EVSE (firmware/ocpp/v201/transactions.py)."""

    def __init__(self, service: SmartChargingService, model: DeviceModel,
                 active_transaction: ActiveTransaction, cp: Callable[[], ChargePoint201 | None],
                 external: Callable[[], dict[int, dict[str, float]]]) -> None:
        self.service = service
        self._external = external  # EVSE → chargingLimitSource → A (firmware/ocpp/v201/charging_limits.py)
        self._cp = cp
        self.model = model
        self._active = active_transaction
        self._reports: dict[int, list[dict[str, Any]]] = {}  # ReportChargingProfiles parts per requestId

    async def online(self, cp: ChargePoint201) -> None:
        return None

    @property
    def entries(self) -> int:
        """SmartChargingCtrlr.Entries[ChargingProfiles]: the profiles installed now."""
        return len(self.service.profiles)

    @property
    def rules(self) -> ProfileRules201:
        return ProfileRules201.of(self.service, self.model)

    def _enabled(self) -> bool:
        return self.model.flag("SmartChargingCtrlr.Enabled")

    # --- the profile of a RequestStartTransaction (F01/F02, K05) -------------------------------------
    def accept_start_profile(self, evse_id: int | None, charging_profile: Any,
                             wait_s: float | None = None) -> tuple[bool, str | None]:
        """For RequestStartTransaction's optional `charging_profile` (the `ocpp` library's snake_case
        dict). Call it before answering; it returns (accepted, reasonCode):
        - (False, "InvalidProfile" / "InvalidSchedule"): answer RequestStartTransaction Rejected with that
          reasonCode (K05.FR.05, F01.FR.26): not a TxProfile (K05.FR.02), a transactionId given
          (F01.FR.11), or a profile SetChargingProfile would refuse;
        - (True, None): go on with the start. The profile is kept and installed as the TxProfile of the
          transaction that starts next on `evse_id` (any EVSE when None) within `wait_s` (default: the
          connection timeout), else forgotten (F01.FR.10, K05.FR.03). With SmartChargingCtrlr.Enabled
          false the profile is ignored (K05.FR.04) and the answer is (True, None) too.
        A station without smart charging has no SmartCharging201 (the adapter's `smart_charging` is None):
        the caller ignores the profile then (F01.FR.12)."""
        if not self._enabled():
            return True, None
        if not isinstance(charging_profile, dict) or \
                charging_profile.get("charging_profile_purpose") != "TxProfile":
            return False, "InvalidProfile"
        if charging_profile.get("transaction_id") is not None:
            return False, "InvalidProfile"
        rules = self.rules
        probe = evse_id if evse_id else rules.evse_ids()[0]
        now = self.service.clock.now()
        _, code, why = parse_profile(probe, {**charging_profile, "transaction_id": "-"},
                                     active_transaction=lambda evse: "-", now=now, rules=rules,
                                     installed=())
        if code:
            log.warning("RequestStartTransaction chargingProfile refused: %s", why)
            return False, code if code in ("InvalidProfile", "InvalidSchedule") else "InvalidProfile"

        def install(connector_id: int) -> tuple[bool, str]:
            # The transaction may open just after the session (TxStartPoint): the profile belongs to the
            # one running now, if any.
            running = self._active(connector_id)
            profile, _, reason = parse_profile(
                connector_id, {**charging_profile, "transaction_id": running or "-"},
                active_transaction=lambda evse: running or "-", now=self.service.clock.now(),
                rules=self.rules, installed=())
            if profile is None:
                return False, reason
            if running is None:
                profile = _without_transaction(profile)
            return self.service.install_profile(profile, replace_same_stack=False)

        self.service.hold_for_session(evse_id or None, install, wait_s)
        return True, None

    def transaction_began(self, evse_id: int, transaction_id: str) -> None:
        """A transaction began on `evse_id`: a RequestStartTransaction profile installed for its session
        before it (TxStartPoint after the session's start) becomes that transaction's TxProfile. Only such
        a profile is a TxProfile without a transactionId: SetChargingProfile refuses one (K01.FR.03). The
        TxProfiles of the EVSE now last until the transaction ends, which may be after its session."""
        self.service.hold_tx_profiles(evse_id, True)
        for profile in self.service.profiles:
            if profile.purpose is Purpose.TX and profile.connector_id == evse_id \
                    and profile.transaction_id is None:
                self.service.install_profile(dataclasses.replace(profile, transaction_id=transaction_id),
                                             replace_same_stack=False)

    def transaction_ended(self, evse_id: int) -> None:
        """The transaction on `evse_id` ended: its TxProfiles go."""
        self.service.hold_tx_profiles(evse_id, False)

    # --- K01 -----------------------------------------------------------------------------------------
    def set_profile(self, evse_id: Any, charging_profile: Any) -> tuple[bool, str, str]:
        """(accepted, reasonCode, why); installed and enforced before it returns (K01.FR.07)."""
        try:
            profile, code, why = parse_profile(evse_id, charging_profile, active_transaction=self._active,
                                               now=self.service.clock.now(), rules=self.rules,
                                               installed=self.service.profiles)
            if profile is None:
                return False, code, why
            installed, reason = self.service.install_profile(profile, replace_same_stack=False)
            return (True, "", "") if installed else (False, "TooManyElements", reason)
        except Exception as exc:  # never let a bad profile escape as an exception
            log.exception("SetChargingProfile failed")
            return False, "InternalError", str(exc)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **kwargs: Any) -> Any:
        if not self._enabled():
            raise NotSupportedError(description="SmartChargingCtrlr.Enabled is false")  # K01.FR.29
        accepted, code, why = self.set_profile(evse_id, charging_profile)
        if accepted:
            return call_result.SetChargingProfile(status="Accepted")
        log.warning("SetChargingProfile rejected (%s): %s", code, why)
        return call_result.SetChargingProfile(status="Rejected", status_info=_status_info(code, why))

    # --- K10 -----------------------------------------------------------------------------------------
    def clear(self, profile_id: int | None, criteria: dict[str, Any] | None) -> bool:
        """True (Accepted) when a profile was removed; ExternalConstraints are never cleared
        (K10.FR.06/08/09: they are not the CSMS's profiles, Unknown)."""
        if profile_id is not None:
            return self.service.clear(id=profile_id)  # K10.FR.03
        criteria = criteria or {}
        purpose_name = criteria.get("charging_profile_purpose")
        purpose = PURPOSES.get(str(purpose_name)) if purpose_name is not None else None
        if purpose_name is not None and purpose is None:
            return False
        return self.service.clear(connector_id=criteria.get("evse_id"), purpose=purpose,  # K10.FR.04
                                  stack_level=criteria.get("stack_level"))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None,
                                  **kwargs: Any) -> Any:
        if not self._enabled():
            raise NotSupportedError(description="SmartChargingCtrlr.Enabled is false")
        try:
            cleared = self.clear(charging_profile_id, charging_profile_criteria)
        except Exception:
            log.exception("ClearChargingProfile failed")
            cleared = False
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")  # K10.FR.01

    # --- K09 -----------------------------------------------------------------------------------------
    def matching(self, evse_id: int | None, criteria: dict[str, Any]) -> list[ChargingProfile]:
        """The installed profiles matching every given field (K09.FR.04-06): evseId 0 = those installed on
        the station itself; a chargingProfileId list selects by id; every profile here came from the CSMS
        (chargingLimitSource CSO)."""
        ids = criteria.get("charging_profile_id")
        sources = criteria.get("charging_limit_source")
        purpose_name = criteria.get("charging_profile_purpose")
        stack = criteria.get("stack_level")
        if sources is not None and CSO not in sources:
            return []
        if purpose_name is not None and purpose_name not in PURPOSES:
            return []
        return [p for p in sorted(self.service.profiles, key=lambda p: (p.connector_id, p.id))
                if (evse_id is None or p.connector_id == evse_id)
                and (ids is None or p.id in ids)
                and (purpose_name is None or p.purpose is PURPOSES[purpose_name])
                and (stack is None or p.stack_level == stack)]

    def external_matching(self, evse_id: int | None, criteria: dict[str, Any]) -> list[tuple[int, str, Any]]:
        """The external limits reported to the CSMS (K11-K13) as (EVSE, chargingLimitSource,
        ChargingStationExternalConstraints profile) matching the criteria, negative ids (K11.FR.06)."""
        ids = criteria.get("charging_profile_id")
        sources = criteria.get("charging_limit_source")
        purpose = criteria.get("charging_profile_purpose")
        stack = criteria.get("stack_level")
        if purpose not in (None, EXTERNAL_PURPOSE) or stack not in (None, 0):
            return []
        now = self.service.clock.now()
        found = []
        for evse, limits in sorted(self._external().items()):
            for source, amps in sorted(limits.items()):
                profile_id = -(evse * len(EXTERNAL_SOURCES) + EXTERNAL_SOURCES.index(source) + 1)
                if (evse_id is None or evse == evse_id) and (sources is None or source in sources) \
                        and (ids is None or profile_id in ids):
                    found.append((evse, source, external_profile(profile_id, amps, now)))
        return found

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                 evse_id: int | None = None, **kwargs: Any) -> Any:
        found = self.matching(evse_id, charging_profile or {})
        external = self.external_matching(evse_id, charging_profile or {})
        if not found and not external:
            return call_result.GetChargingProfiles(status="NoProfiles")
        parts: list[dict[str, Any]] = []
        for evse in sorted({p.connector_id for p in found}):
            mine = [profile_payload(p) for p in found if p.connector_id == evse]
            for i in range(0, len(mine), REPORT_PROFILES_PER_MESSAGE):
                parts.append({"request_id": request_id, "charging_limit_source": CSO, "evse_id": evse,
                              "charging_profile": mine[i:i + REPORT_PROFILES_PER_MESSAGE]})
        for evse, source, profile in external:  # one message per source (the field is per message)
            parts.append({"request_id": request_id, "charging_limit_source": source, "evse_id": evse,
                          "charging_profile": [profile]})
        for part in parts[:-1]:
            part["tbc"] = True  # K09.FR.02
        self._reports[request_id] = parts
        return call_result.GetChargingProfiles(status="Accepted")

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, request_id: int, **kwargs: Any) -> None:
        parts = self._reports.pop(request_id, [])
        try:
            for part in parts:
                cp = self._cp()
                if cp is None:
                    return
                await cp.call(call.ReportChargingProfiles(**part), suppress=False)
        except Exception:  # the hook is a task of its own: its failure must not vanish
            log.exception("ReportChargingProfiles not delivered")

    # --- K08 -----------------------------------------------------------------------------------------
    def composite(self, evse_id: int, duration: int, unit: str | None) -> dict[str, Any] | None:
        """The CompositeScheduleType (snake_case), or None (Rejected): an unknown EVSE (K08.FR.05), a unit
        not in SmartChargingCtrlr.RateUnit (K08.FR.07)."""
        rate = UNITS.get(unit or "A")
        if rate is None or rate.value not in self.model.members("SmartChargingCtrlr.RateUnit"):
            return None
        if evse_id != 0 and evse_id not in self.rules.evse_ids():
            return None
        composite = self.service.composite(evse_id, duration)
        if composite is None:
            return None
        periods = composite_periods(composite.start, composite.duration_s, composite.segments, rate,
                                    composite.context)
        return {"evse_id": evse_id, "duration": composite.duration_s,
                "schedule_start": format_time(composite.start), "charging_rate_unit": rate.value,
                "charging_schedule_period": periods}

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                  **kwargs: Any) -> Any:
        try:
            schedule = self.composite(evse_id, duration, charging_rate_unit)
        except Exception:
            log.exception("GetCompositeSchedule failed")
            schedule = None
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)


def _without_transaction(profile: ChargingProfile) -> ChargingProfile:
    return dataclasses.replace(profile, transaction_id=None)
