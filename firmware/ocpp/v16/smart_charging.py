"""OCPP 1.6 Smart Charging handlers (SetChargingProfile, ClearChargingProfile, GetCompositeSchedule).

A mixin for the charge-point class: `class ChargePoint16(SmartChargingHandlers, ocpp.v16.ChargePoint)`.
It expects on `self`:
* `smart_charging`: the smart-charging service in 1.6 terms (`SmartCharging16`);
* `active_transaction_id(connector_id) -> int | None`: the OCPP transaction running on a connector.

Handlers only decide and answer (Accepted/Rejected/Unknown); they never raise, so a bad profile never turns
into an InternalError. The service applies a new limit before the handler returns, so the car sees it
before the CSMS sees the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ocpp import routing
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)

if TYPE_CHECKING:
    from firmware.ocpp.v16.smart_profiles import SmartCharging16

log = logging.getLogger(__name__)
Handler = TypeVar("Handler", bound=Callable[..., Any])


def on(action: Action) -> Callable[[Handler], Handler]:
    """`ocpp.routing.on` with its type (the library is untyped)."""
    return cast(Callable[[Handler], Handler], routing.on(action))


class SmartChargingHandlers:
    smart_charging: SmartCharging16
    active_transaction_id: Callable[[int], int | None]

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **kwargs: Any) -> call_result.SetChargingProfile:
        try:
            tx = self.active_transaction_id(connector_id) if connector_id > 0 else None
            accepted, reason = self.smart_charging.install(connector_id, cs_charging_profiles, tx)
        except Exception as exc:  # the handler must answer, whatever happens
            log.exception("SetChargingProfile failed")
            accepted, reason = False, str(exc)
        if not accepted:
            log.warning("SetChargingProfile rejected: %s", reason)
        return call_result.SetChargingProfile(
            status=ChargingProfileStatus.accepted if accepted else ChargingProfileStatus.rejected)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None,
                                  **kwargs: Any) -> call_result.ClearChargingProfile:
        try:
            cleared = self.smart_charging.clear(id=id, connector_id=connector_id,
                                                purpose=charging_profile_purpose, stack_level=stack_level)
        except Exception:
            log.exception("ClearChargingProfile failed")
            cleared = False
        return call_result.ClearChargingProfile(
            status=ClearChargingProfileStatus.accepted if cleared else ClearChargingProfileStatus.unknown)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None,
                                  **kwargs: Any) -> call_result.GetCompositeSchedule:
        try:
            result = self.smart_charging.composite_schedule(connector_id, duration, charging_rate_unit)
        except Exception:
            log.exception("GetCompositeSchedule failed")
            result = None
        if result is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        return call_result.GetCompositeSchedule(**result)
