"""The 1.6 runtime's extension points: the feature modules (firmware management, security extensions,
pricing, smart charging) register here what they answer and what they add, instead of reaching into the
adapter: CSMS actions, DataTransfer messages, triggered messages, work after the first accepted
BootNotification, and the firmware version and diagnostics status the core messages report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from firmware.ocpp.common.data_transfer import DataTransferHandler, DataTransferHandlers

ExtraRoute = tuple[Callable[..., Any], Callable[..., Any] | None]
TriggerSender = Callable[[int | None], Awaitable[None]]


@dataclass
class Extensions16:
    firmware_version: Callable[[], str]  # what BootNotification names
    routes: dict[str, ExtraRoute] = field(default_factory=dict)
    data_transfer: DataTransferHandlers = field(default_factory=DataTransferHandlers)
    # What a triggered message sends, per message name, taking the connector id.
    trigger_senders: dict[str, TriggerSender] = field(default_factory=dict)
    after_registration: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    # Run on every connection once registered (after the first registration's hooks).
    each_connection: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    diagnostics_status: Callable[[], str] = lambda: "Idle"

    def register_handler(self, action: str, on_handler: Callable[..., Any],
                         after_handler: Callable[..., Any] | None = None) -> None:
        """Let another module (firmware update, diagnostics, smart charging) answer a CSMS action."""
        self.routes[action] = (on_handler, after_handler)

    def register_data_transfer(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self.data_transfer.register(vendor_id, message_id, handler)
