"""The shared pieces of one OCPP 1.6 runtime that its feature modules work with instead of the adapter:
settings, station, clock, configuration keys, the durable outbox, the CALL channel, owned tasks, the
extension points and the security log. Each is a small object of its own; the adapter builds them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmware.core.api import StationApi
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.tasks import Spawn
from firmware.ocpp.settings import OcppSettings
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.extensions import Extensions16
from firmware.security.events import SecurityLog
from hal.clock import Clock


@dataclass(frozen=True)
class Services16:
    settings: OcppSettings
    station: StationApi
    clock: Clock
    config: ConfigurationStore
    outbox: Outbox
    wake_outbox: Callable[[], None]  # deliver rows a module queued in the outbox
    calls: Calls16
    spawn: Spawn
    extensions: Extensions16
    security_log: SecurityLog
