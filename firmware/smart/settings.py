"""Settings sections of smart charging, local load management and demand response.

They are fields of `firmware.settings.Settings` (`[smart_charging]`, `[load_management]`,
`[demand_response]` in the TOML file); examples in config/smart-charging.toml.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _both_units() -> list[Literal["Current", "Power"]]:
    return ["Current", "Power"]


class SmartChargingSettings(_Section):
    """Charging profiles from the CSMS (OCPP Smart Charging) and how they are enforced."""

    max_stack_level: int = Field(
        default=8, ge=0, le=100,
        description="Highest stack level a charging profile may use (OCPP ChargeProfileMaxStackLevel).")
    allowed_units: list[Literal["Current", "Power"]] = Field(
        default_factory=_both_units, min_length=1,
        description="Charging rate units profiles may use (OCPP ChargingScheduleAllowedChargingRateUnit).")
    max_periods: int = Field(
        default=48, ge=1, le=1000,
        description="Most periods in one schedule (OCPP ChargingScheduleMaxPeriods).")
    max_profiles: int = Field(
        default=32, ge=1, le=1000,
        description="Most profiles installed at once (OCPP MaxChargingProfilesInstalled).")
    min_current_a: float = Field(
        default=6.0, ge=6, le=16,
        description="Below this a profile pauses charging; it resumes when the profile allows it again and "
                    "the pause has lasted min_pause_s.")
    min_pause_s: float = Field(
        default=60.0, ge=0, le=3600,
        description="Shortest pause once a profile paused charging, so a schedule hovering around 6 A does "
                    "not flap the contactor.")
    phase_switch_interval_s: float = Field(
        default=300.0, ge=30, le=86400,
        description="At most one 3 <-> 1 phase switch per this interval (connectors with a phase-switch "
                    "contactor).")
    phase_switch_pause_s: float = Field(
        default=5.0, ge=1, le=60,
        description="Pause between PWM off and on around a phase switch.")


class LoadManagementSettings(_Section):
    """Connectors on this controller share one site/circuit limit (per phase)."""

    enabled: bool = Field(
        False,
        description="Share site_limit_a between the connectors that charge.")
    site_limit_a: float = Field(
        default=32.0, ge=6, le=1000,
        description="The site's or circuit's limit per phase (breaker or contract), in A.")
    use_grid_meter: bool = Field(
        False,
        description="Use the grid meter (station.hal.grid_meter), which measures the whole site including "
                    "the chargers: only the headroom is shared.")
    safety_margin_a: float = Field(
        default=1.0, ge=0, le=50,
        description="Kept free below site_limit_a when a grid meter is used.")
    poll_interval_s: float = Field(
        default=2.0, gt=0, le=60,
        description="How often the grid meter is read.")
    rotation_interval_s: float = Field(
        default=900.0, ge=60, le=86400,
        description="When not every charging connector can get 6 A, the paused ones take turns this often.")
    meter_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Grid meter silent this long: each charging connector falls back to 6 A.")


class DemandResponseSettings(_Section):
    """Grid operator's control input (e.g. German §14a EnWG relay): caps the charger while active."""

    enabled: bool = Field(
        False,
        description="Obey the grid operator's demand-response input (station.hal.demand_response).")
    power_w: float = Field(
        default=4200.0, ge=0, le=100000,
        description="Total power of the station while the input is active, in W; 0 pauses.")
    active_low: bool = Field(
        False,
        description="The relay opens (input inactive) to request the limit.")


def check_smart_hardware(settings: Any) -> None:
    """Settings validator: enabled features need their hardware configured (raises ValueError)."""
    hal = settings.station.hal
    if settings.demand_response.enabled and hal.demand_response is None:
        raise ValueError("demand_response.enabled needs an input: set station.hal.demand_response")
    lm = settings.load_management
    if lm.enabled and lm.use_grid_meter and hal.grid_meter is None:
        raise ValueError("load_management.use_grid_meter needs a meter: set station.hal.grid_meter")
