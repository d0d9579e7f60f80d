"""Device models for tests: this repository's component files on a settings-built installation, with live
values from a small stand-in of the running charger."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from firmware.ocpp.common.framing import FrameContext
from firmware.ocpp.common.invalid_messages import InvalidMessages
from firmware.ocpp.common.rate_limit import CallRateLimit, RateLimitSettings
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.v201.device_model.definitions import load_components
from firmware.ocpp.v201.device_model.installation import installation_from
from firmware.ocpp.v201.device_model.keys import VariableKey
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.security.events import open_security_log
from firmware.settings import Settings
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir
from hal.clock import SimClock

LIVE = {
    "AvailabilityState": "Available", "Problem": "false", "Active": "false", "Tripped": "false",
    "DateTime": "2030-06-01T12:00:00.000Z", "Power": "0", "ACCurrent": "0", "ACVoltage": "230",
    "State": "A", "Temperature": "21.5", "CertificateEntries": "0", "Entries": "0",
    "ActiveNetworkProfile": "1", "SecurityProfile": "0",
}


def live(key: VariableKey) -> str:
    return LIVE[key.name]


def settings(connectors: int = 2, **ocpp: Any) -> Settings:
    return Settings.model_validate({
        "station": {"state_dir": "/tmp/unused"},
        "connectors": [{"id": n} for n in range(1, connectors + 1)],
        "ocpp": {"url": "ws://csms.example/ocpp", "charge_point_id": "CP-1", **ocpp},
    })


def open_db(path: Path) -> StateDatabase:
    return StateDatabase(StateDir(path), "ocpp.db", essential=True, setup=None)


def model(path: Path, connectors: int = 2, **ocpp: Any) -> DeviceModel:
    s = settings(connectors, **ocpp)
    assert s.ocpp is not None
    return DeviceModel.build(load_components(), installation_from(s, s.ocpp), open_db(path),
                             s.ocpp.device_model, live)


def framing(path: Path) -> FrameContext:
    """The framing context of a charge point built without an adapter: our replies are validated too."""
    clock = SimClock()
    return FrameContext(CallRateLimit(RateLimitSettings(), clock.monotonic),
                        InvalidMessages(open_security_log(path, clock), clock.monotonic),
                        OwnedTasks(logging.getLogger(__name__)).spawn, log_frames=False,
                        validate_replies=True)
