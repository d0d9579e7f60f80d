"""A charging session as the core sees it (protocol-neutral; OCPP maps it to a transaction)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from firmware.core.vocabulary import StopReason


@dataclass
class Session:
    connector_id: int
    id_tag: str | None
    parent_id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reservation_id: int | None = None
    last_meter_wh: float = 0.0
    max_power_w: float = 0.0
    stopping: StopReason | None = None
    stop_id_tag: str | None = None

    def __post_init__(self) -> None:
        self.last_meter_wh = max(self.last_meter_wh, self.meter_start_wh)

    @property
    def energy_wh(self) -> float:
        return max(0.0, self.last_meter_wh - self.meter_start_wh)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "id_tag": self.id_tag,
            "parent_id_tag": self.parent_id_tag,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "meter_start_wh": round(self.meter_start_wh, 1),
            "energy_wh": round(self.energy_wh, 1),
            "stopping": self.stopping.value if self.stopping else None,
        }


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A token accepted before the cable was plugged in; expires after the connection timeout."""

    id_tag: str
    parent_id_tag: str | None
    expires_at: float  # clock.monotonic()
