"""How the core asks whether an id tag may charge. Adapters (OCPP) plug in their own authorizer."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class AuthStatus(enum.StrEnum):
    """Why a token may or may not charge. The value is how the audit trail and the CLI show it; each
    OCPP version maps its own statuses onto these (firmware/ocpp/v16/vocabulary.py)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"  # the token is already charging elsewhere


@dataclass(frozen=True, slots=True)
class AuthResult:
    accepted: bool
    status: AuthStatus = AuthStatus.ACCEPTED
    parent_id_tag: str | None = None
    source: str = ""  # who decided, for the audit trail: "CSMS", "local list, offline", ...
    master_pass: bool = False  # a master pass: stops every session, never starts one (OCPP 2.0.1 C16)


ACCEPTED = AuthResult(True, source="free charging")


class Authorizer(Protocol):
    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult: ...


class FreeCharging:
    """Every token is accepted; a plugged EV also gets a session without any token."""

    auto_start = True

    async def authorize(self, id_tag: str, connector_id: int) -> AuthResult:
        return ACCEPTED


@dataclass(frozen=True, slots=True)
class Reservation:
    """A connector held for one id tag (or its parent group) until `expires_at` (monotonic seconds)."""

    reservation_id: int
    id_tag: str
    parent_id_tag: str | None
    expires_at_monotonic: float
    # Made for any connector (connector/EVSE 0): it holds one, and moves to another free one when a
    # different card wants this one (OCPP 1.6 ReserveNow connectorId 0, OCPP 2.0.1 H01.FR.07).
    anywhere: bool = False

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        if id_tag == self.id_tag:
            return True
        return self.parent_id_tag is not None and parent_id_tag == self.parent_id_tag
