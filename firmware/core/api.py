"""The core's public face: the only way adapters (OCPP, CLI, smart charging) may act on the hardware.

Everything here runs on the asyncio loop thread. Commands are requests: the core decides, and the state
machine and safety interlock keep the last word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from firmware.core.authorization import Authorizer, Reservation
from firmware.core.events import CoreEvent
from firmware.core.vocabulary import ConnectorState, StopReason

AvailabilityResult = Literal["Accepted", "Scheduled", "Rejected"]
UnlockResult = Literal["Unlocked", "UnlockFailed", "NotSupported"]
Listener = Callable[[CoreEvent], None]
StatusProvider = Callable[[], Any]
ConnectorStatusProvider = Callable[[int], Any]


class StationApi(Protocol):
    @property
    def connector_ids(self) -> list[int]: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every CoreEvent (on the loop thread, in order). Listeners must not block."""

    def set_authorizer(self, authorizer: Authorizer, *, auto_start: bool) -> None:
        """Install the authorization policy; auto_start=True starts a session on plug-in with no token."""

    async def present_token(self, id_tag: str, connector_id: int | None = None) -> bool:
        """An RFID swipe or local start: authorizes, then starts or stops a session. True if it acted."""

    async def remote_start(self, id_tag: str, connector_id: int | None = None,
                           authorize: bool = False) -> bool:
        """Start a session for id_tag (waits for the plug up to the connection timeout)."""

    def stop_session(self, connector_id: int, reason: StopReason, id_tag: str | None = None) -> bool: ...

    def session_of(self, connector_id: int) -> dict[str, Any] | None:
        """id, id_tag, parent_id_tag, started_at, meter_start_wh, energy_wh of the running session."""

    def state_of(self, connector_id: int) -> ConnectorState: ...

    def set_available(self, connector_id: int, operative: bool) -> AvailabilityResult:
        """connector_id 0 = the whole station. Scheduled when a session runs."""

    def hold_new_sessions(self, reason: str, held: bool) -> None:
        """Hold (or release) new sessions on every connector for `reason`, e.g. a firmware update that
        waits for the running ones: idle connectors become Unavailable, busy ones after their session.
        Not kept across a restart (unlike set_available)."""

    async def unlock(self, connector_id: int) -> UnlockResult: ...

    def set_connection_timeout(self, seconds: float) -> None:
        """How long an authorization waits for the plug (OCPP ConnectionTimeOut)."""

    def reserve(self, connector_id: int, reservation: Reservation) -> Literal[
            "Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]: ...

    def cancel_reservation(self, reservation_id: int) -> bool: ...

    def set_limit(self, source: str, amps: float | None, connector_id: int | None = None) -> None:
        """Set (or clear with None) a named limit source for one connector or (None) all of them."""

    def snapshot(self) -> dict[str, Any]:
        """The versioned status document served by `chargepi status --json`."""

    def add_status_section(self, name: str, provider: StatusProvider) -> None: ...

    def add_connector_status_field(self, name: str, provider: ConnectorStatusProvider) -> None: ...

    async def latest_meter_wh(self, connector_id: int) -> float: ...
