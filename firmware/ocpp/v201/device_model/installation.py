"""This charger's installation as the component files see it: the `{placeholder}` values and the hardware
each EVSE has (`when = ...`), taken from the settings. One EVSE per `[[connectors]]` entry, one connector
each (EVSE id = connector id, numbered 1..N without gaps as OCPP 2.0.1 Part 1 §7 asks)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from firmware.ocpp.v201.device_model.model import EvseInstallation, Installation

# What is read of the settings (firmware/settings.py `Settings` has all of it): read-only views, so the
# settings, which check device-model presets through firmware/ocpp/catalogue.py, are not imported here.


class ConnectorHalView(Protocol):
    @property
    def rcm(self) -> object | None: ...
    @property
    def temperature(self) -> object | None: ...
    @property
    def token_reader(self) -> object | None: ...
    @property
    def lock(self) -> object | None: ...
    @property
    def display(self) -> object | None: ...


class ConnectorView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def rated_current_a(self) -> float: ...
    @property
    def max_current_a(self) -> float | None: ...
    @property
    def nominal_voltage_v(self) -> float: ...
    @property
    def phases(self) -> int: ...
    @property
    def cable(self) -> str: ...
    @property
    def hal(self) -> ConnectorHalView: ...


class StationView(Protocol):
    @property
    def vendor(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def connection_timeout_s(self) -> float: ...
    @property
    def free_charging(self) -> bool: ...


class SmartChargingView(Protocol):
    @property
    def max_profiles(self) -> int: ...
    @property
    def max_stack_level(self) -> int: ...
    @property
    def max_periods(self) -> int: ...
    @property
    def allowed_units(self) -> Sequence[str]: ...


class DisplayView(Protocol):
    @property
    def currency(self) -> str: ...


class OcppView(Protocol):
    @property
    def charge_point_id(self) -> str: ...
    @property
    def response_timeout_s(self) -> float: ...
    @property
    def ping_interval_s(self) -> float: ...
    @property
    def reconnect_min_s(self) -> float: ...
    @property
    def reconnect_max_s(self) -> float: ...
    @property
    def device_model(self) -> Mapping[str, Any]: ...


class InstallationSettings(Protocol):
    @property
    def station(self) -> StationView: ...
    @property
    def connectors(self) -> Sequence[ConnectorView]: ...
    @property
    def smart_charging(self) -> SmartChargingView: ...
    @property
    def display(self) -> DisplayView: ...
    @property
    def ocpp(self) -> OcppView | None: ...

HARDWARE_FEATURES = ("rcm", "temperature", "token_reader", "lock")


def _evse(connector: ConnectorView) -> EvseInstallation:
    amps = min(connector.rated_current_a, connector.max_current_a or connector.rated_current_a)
    features = frozenset(name for name in HARDWARE_FEATURES if getattr(connector.hal, name) is not None)
    return EvseInstallation(connector.id, {
        "supply_phases": str(connector.phases),
        "max_power_w": str(round(amps * connector.nominal_voltage_v * connector.phases)),
        # ConnectorEnumType: a Type 2 socket, or a tethered Type 2 cable.
        "connector_type": "sType2" if connector.cable == "socket" else "cType2",
    }, features)


def _ocpp_values(ocpp: OcppView) -> dict[str, str]:
    steps = max(0, math.ceil(math.log2(ocpp.reconnect_max_s / ocpp.reconnect_min_s)))
    return {
        "identity": ocpp.charge_point_id,
        "message_timeout": str(math.ceil(ocpp.response_timeout_s)),
        "ping_interval": str(round(ocpp.ping_interval_s)),
        "retry_backoff_wait_minimum": str(max(1, math.ceil(ocpp.reconnect_min_s))),
        "retry_backoff_repeat_times": str(min(20, steps)),
    }


def installation_from(settings: InstallationSettings, ocpp: OcppView) -> Installation:
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
