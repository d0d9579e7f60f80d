"""Vendor DataTransfer handlers, for every OCPP version: a vendor module registers what it answers to a
CSMS's DataTransfer by vendorId and messageId; the version's handler asks `answer`, which gives the
status and the reply data (UnknownVendorId / UnknownMessageId when no handler is registered; a request
without messageId looks for the messageId ""). The data is the version's: a string in 1.6, any JSON value in
2.0.1 (the handlers of each adapter take and give what their version carries).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DataTransferHandler = Callable[[Any], tuple[str, Any]]  # data -> (status, reply data or None)
UNKNOWN_VENDOR = "UnknownVendorId"
UNKNOWN_MESSAGE = "UnknownMessageId"


class DataTransferHandlers:
    def __init__(self) -> None:
        self._handlers: dict[str, dict[str, DataTransferHandler]] = {}

    def register(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self._handlers.setdefault(vendor_id, {})[message_id] = handler

    def answer(self, vendor_id: str, message_id: str | None, data: Any) -> tuple[str, Any]:
        """(status, reply data) for one CSMS DataTransfer."""
        handlers = self._handlers.get(vendor_id)
        if handlers is None:
            return UNKNOWN_VENDOR, None
        handler = handlers.get(message_id or "")
        if handler is None:
            return UNKNOWN_MESSAGE, None
        return handler(data)
