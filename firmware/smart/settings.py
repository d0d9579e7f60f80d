"""Settings sections of smart charging, local load management and demand response.

They are fields of `firmware.settings.Settings` (`[smart_charging]`, `[load_management]`,
`[demand_response]` in the TOML file); examples in config/smart-charging.toml.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _both_units() -> list[Literal["Current", "Power"]]:
    return ["Current", "Power"]


class SmartChargingSettings(_Section):
    """Charging profiles from the CSMS (OCPP Smart Charging) and how they are enforced."""

    # Read-only OCPP configuration keys (OCPP 1.6 §9.4).
    max_stack_level: int = Field(default=8, ge=0, le=100)  # ChargeProfileMaxStackLevel
    # ChargingScheduleAllowedChargingRateUnit
    allowed_units: list[Literal["Current", "Power"]] = Field(default_factory=_both_units, min_length=1)
    max_periods: int = Field(default=48, ge=1, le=1000)  # ChargingScheduleMaxPeriods
    max_profiles: int = Field(default=32, ge=1, le=1000)  # MaxChargingProfilesInstalled
    # Hysteresis: once a profile pauses charging (< min_current_a), charging resumes only when the
    # profile allows >= min_current_a again AND the pause has lasted at least min_pause_s.
    min_current_a: float = Field(default=6.0, ge=6, le=16)  # IEC 61851-1: 6 A is the lowest PWM offer
    min_pause_s: float = Field(default=60.0, ge=0, le=3600)
    # Phase switching (connectors with a phase-switch contactor): at most one switch per interval.
    phase_switch_interval_s: float = Field(default=300.0, ge=30, le=86400)
    phase_switch_pause_s: float = Field(default=5.0, ge=1, le=60)  # PWM off -> switch -> PWM on


class LoadManagementSettings(_Section):
    """Connectors on this controller share one site/circuit limit (per phase)."""

    enabled: bool = False
    site_limit_a: float = Field(default=32.0, ge=6, le=1000)  # breaker or contract, per phase
    # With a grid meter (station.hal.grid_meter): the meter measures the whole site including the
    # chargers; only the remaining headroom is used. Without it the chargers share site_limit_a.
    use_grid_meter: bool = False
    safety_margin_a: float = Field(default=1.0, ge=0, le=50)
    poll_interval_s: float = Field(default=2.0, gt=0, le=60)
    # When not every charging connector can get 6 A, the paused ones take turns this often.
    rotation_interval_s: float = Field(default=900.0, ge=60, le=86400)
    meter_timeout_s: float = Field(default=10.0, gt=0, le=300)  # grid meter silent this long -> fall back


class DemandResponseSettings(_Section):
    """Grid operator's control input (e.g. German §14a EnWG relay): caps the charger while active."""

    enabled: bool = False
    power_w: float = Field(default=4200.0, ge=0, le=100000)  # total for the station while active; 0 pauses
    active_low: bool = False  # the relay opens (input inactive) to request the limit

