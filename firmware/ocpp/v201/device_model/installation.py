"""This charger's installation as the component files see it: the `{placeholder}` values and the hardware
each EVSE has (`when = ...`), taken from the settings. One EVSE per `[[connectors]]` entry, one connector
each (EVSE id = connector id, numbered 1..N without gaps as OCPP 2.0.1 Part 1 §7 asks)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from firmware.ocpp.v201.device_model.model import EvseInstallation, Installation

if TYPE_CHECKING:
    from firmware.ocpp.settings import OcppSettings
    from firmware.settings import ConnectorSettings, Settings

HARDWARE_FEATURES = ("rcm", "temperature", "token_reader", "lock")


def _evse(connector: ConnectorSettings) -> EvseInstallation:
    amps = min(connector.rated_current_a, connector.max_current_a or connector.rated_current_a)
    features = frozenset(name for name in HARDWARE_FEATURES if getattr(connector.hal, name) is not None)
    return EvseInstallation(connector.id, {
        "supply_phases": str(connector.phases),
        "max_power_w": str(round(amps * connector.nominal_voltage_v * connector.phases)),
        # ConnectorEnumType: a Type 2 socket, or a tethered Type 2 cable.
        "connector_type": "sType2" if connector.cable == "socket" else "cType2",
    }, features)


def _ocpp_values(ocpp: OcppSettings) -> dict[str, str]:
    steps = max(0, math.ceil(math.log2(ocpp.reconnect_max_s / ocpp.reconnect_min_s)))
    return {
        "identity": ocpp.charge_point_id,
        "security_profile": str(ocpp.security_profile),
        "message_timeout": str(math.ceil(ocpp.response_timeout_s)),
        "ping_interval": str(round(ocpp.ping_interval_s)),
        "retry_backoff_wait_minimum": str(max(1, math.ceil(ocpp.reconnect_min_s))),
        "retry_backoff_repeat_times": str(min(20, steps)),
    }


def installation_from(settings: Settings, ocpp: OcppSettings) -> Installation:
    smart = settings.smart_charging
    units = {"Current": "A", "Power": "W"}
    values = {
        **_ocpp_values(ocpp),
        "vendor": settings.station.vendor,
        "model": settings.station.model,
        "supply_phases": str(max(c.phases for c in settings.connectors)),
        "connection_timeout": str(math.ceil(settings.station.connection_timeout_s)),
        # A fixed cable cannot be unlocked (OCPP 2.0.1 Part 2 OCPPCommCtrlr.UnlockOnEVSideDisconnect).
        "unlock_on_ev_side_disconnect": "true" if any(c.cable == "socket" for c in settings.connectors)
        else "false",
        "auth_enabled": "false" if settings.station.free_charging else "true",
        "max_profiles": str(smart.max_profiles),
        "max_stack_level": str(smart.max_stack_level),
        "max_periods": str(smart.max_periods),
        "rate_units": ",".join(units[u] for u in smart.allowed_units),
        # TariffCostCtrlr: tariffs and costs can be shown where a connector has a driver display.
        "display": "true" if any(c.hal.display is not None for c in settings.connectors) else "false",
        "currency": settings.display.currency,
    }
    return Installation(values, tuple(_evse(c) for c in settings.connectors))
