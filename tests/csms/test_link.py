"""tools.csms.link: a CSMS sees each frame the `ocpp` library sends before it goes out (real websocket)."""

from __future__ import annotations

import asyncio
import json

from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from tools.csms.link import SendHook


async def test_every_frame_the_library_sends_is_shown_to_the_hook_first() -> None:
    shown: list[str] = []
    received: list[str] = []
    shown_on_arrival: list[int] = []  # how many frames the hook had seen when each one arrived

    async def station(ws: ServerConnection) -> None:
        async for frame in ws:
            received.append(str(frame))
            shown_on_arrival.append(len(shown))
            await ws.send(json.dumps([3, json.loads(frame)[1], {"currentTime": "2030-06-01T12:00:00Z"}]))

    async with serve(station, "127.0.0.1", 0) as server, \
            connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}") as ws:
        csms = ChargePoint("CP-1", SendHook(ws, shown.append), response_timeout=5)
        reader = asyncio.create_task(csms.start())  # replies come back through SendHook.recv
        result = await csms.call(call.Heartbeat())
        reader.cancel()
    assert result.current_time == "2030-06-01T12:00:00Z"
    assert shown == received and json.loads(shown[0])[2] == "Heartbeat"
    assert shown_on_arrival == [1]  # the hook saw the frame before it reached the other side
