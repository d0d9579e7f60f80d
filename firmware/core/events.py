"""Events the core publishes to protocol adapters, session recorders and the status view (one-way flow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from firmware.core.vocabulary import ConnectorState, Fault, StopReason
from hal.types import CPState, MeterReading


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The connector's state or its leading fault changed (published once per change of the pair)."""

    connector_id: int
    state: ConnectorState
    fault: Fault | None  # the leading active fault (blocking ones first), None when there is none
    info: str | None  # "<fault>: <description>", at most 50 characters
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class FaultChanged:
    connector_id: int
    fault: Fault
    active: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PilotChanged:
    connector_id: int
    cp_state: CPState
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class SessionStarted:
    connector_id: int
    session_id: str
    id_tag: str | None
    meter_start_wh: float
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionStopped:
    connector_id: int
    session_id: str
    reason: StopReason
    meter_stop_wh: float
    timestamp: datetime
    id_tag: str | None  # who stopped it (token presented), None if not a token stop
    start_id_tag: str | None = None
    # The session's own figures, so a record can be completed from the event alone (e.g. after a power cut)
    started_at: datetime | None = None
    meter_start_wh: float | None = None
    max_power_w: float | None = None


@dataclass(frozen=True, slots=True)
class MeterSampled:
    connector_id: int
    reading: MeterReading
    timestamp: datetime
    session_id: str | None


@dataclass(frozen=True, slots=True)
class OfferChanged:
    connector_id: int
    offered_a: float
    duty_percent: float | None  # None when PWM is off
    reason: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class LimitChanged:
    """One input of a connector's current arbiter was set, changed or (amps None) cleared."""

    connector_id: int
    source: str  # a LimitSource value
    amps: float | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class ContactorChanged:
    connector_id: int
    closed: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class TokenPresented:
    connector_id: int | None
    id_tag: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class TokenDecided:
    """What came of a presented token, and why (for the audit trail)."""

    connector_id: int | None
    id_tag: str
    accepted: bool  # it started, stopped or cancelled something
    outcome: str  # e.g. "starts a session", "Blocked (CSMS)", "connector 1 is Faulted"
    timestamp: datetime


CoreEvent = (
    StatusChanged | FaultChanged | PilotChanged | SessionStarted | SessionStopped | MeterSampled
    | OfferChanged | LimitChanged | ContactorChanged | TokenPresented | TokenDecided
)
