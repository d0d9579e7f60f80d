"""The websocket as a CSMS hands it to the `ocpp` library: every frame sent is shown to a hook first.

The library's `ChargePoint` uses its connection only through `recv` and `send` (checked by
tests/ocpp/test_ocpp_internals.py), so wrapping the connection is the public way to see each outgoing
frame, in place of overriding the library's private `ChargePoint._send`.
"""

from __future__ import annotations

from collections.abc import Callable

from websockets.asyncio.connection import Connection
from websockets.typing import Data


class SendHook:
    """`recv` and `send` of `connection`; `on_send(message)` runs before each message goes out."""

    def __init__(self, connection: Connection, on_send: Callable[[str], None]) -> None:
        self._connection = connection
        self._on_send = on_send

    async def recv(self) -> Data:
        return await self._connection.recv()

    async def send(self, message: str) -> None:
        self._on_send(message)
        await self._connection.send(message)
