"""A loopback OCPP 1.6 CSMS (the `ocpp` library's server side) with one charger, for tests and benches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.v16 import ChargePoint
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve


class CsmsSide(ChargePoint):  # type: ignore[misc]
    """The back end's view of one connected charger; tests call `self.call(...)` on it."""


@contextlib.asynccontextmanager
async def csms_and_charger(charger_cls: type[ChargePoint], **attrs: Any) -> AsyncIterator[
        tuple[CsmsSide, ChargePoint]]:
    """Start a CSMS on 127.0.0.1:0, connect `charger_cls` to it, yield (csms_side, charger)."""
    connected: asyncio.Future[CsmsSide] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        side = CsmsSide("CP_1", ws, response_timeout=5)
        connected.set_result(side)
        reader = asyncio.create_task(side.start())
        await done.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP_1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            charger = charger_cls("CP_1", ws, response_timeout=5)
            for name, value in attrs.items():
                setattr(charger, name, value)
            reader = asyncio.create_task(charger.start())
            side = await asyncio.wait_for(connected, 5)
            try:
                yield side, charger
            finally:
                done.set()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
