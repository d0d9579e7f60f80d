"""What the dev CSMS server and its sessions of every OCPP version share: the records it keeps
(`Received` requests, `Transaction`s), its wire time format and the typed handler decorator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar, cast

from ocpp.routing import on


class Received(NamedTuple):
    action: str
    payload: dict[str, Any]


@dataclass
class Transaction:
    transaction_id: int | str  # the CSMS's (1.6) or the station's (2.0.1)
    cp_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started: str
    meter_stop: int | None = None
    stopped: str | None = None
    reason: str | None = None


F = TypeVar("F", bound=Callable[..., Any])


def handles(action: str) -> Callable[[F], F]:
    """`ocpp.routing.on`, typed for mypy (the library has no annotations)."""
    return cast(Callable[[F], F], on(action))


def utc_z(when: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, as strict validators expect."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
