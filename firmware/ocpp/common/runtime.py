"""The contract between the application and an OCPP version package (docs/architecture.md "Adding an
OCPP version"): what a version's adapter is given (`AdapterContext`) and what it must offer
(`OcppRuntime`). Version-neutral: it names no OCPP message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from firmware.control.server import ControlServer
    from firmware.core.api import StationApi
    from firmware.display.service import DisplayService
    from firmware.metering.signed import SignedMetering
    from firmware.ocpp.common.connection import OcppLink
    from firmware.ocpp.common.outbox import Outbox
    from firmware.security.events import SecurityLog
    from firmware.settings import Settings
    from firmware.smart.service import SmartChargingService
    from firmware.storage.statedir import StateDir
    from hal.clock import Clock

# Asked to restart the controller (OCPP Reset): True for a hard reset.
RestartHook = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """Everything the application hands to the OCPP version it starts."""

    settings: Settings  # settings.ocpp is set: there is an [ocpp] section
    station: StationApi
    clock: Clock
    state_dir: Path
    control: ControlServer
    restart: RestartHook | None = None
    smart_charging: SmartChargingService | None = None  # each version speaks to it in its own terms
    security_log: SecurityLog | None = None
    storage: StateDir | None = None
    signed_metering: SignedMetering | None = None  # signing meters: OCMF records for each session
    display: DisplayService | None = None  # the driver display: prices and running cost


class OcppRuntime(Protocol):
    """What the application needs from a running OCPP adapter, whatever its version."""

    @property
    def link(self) -> OcppLink: ...

    @property
    def outbox(self) -> Outbox: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
