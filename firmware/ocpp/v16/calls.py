"""The CALL channel of the current 1.6 connection: runs one OCPP session on a websocket, sends our CALLs
on it (ConnectionError when there is none or it drops while we wait), and knows whether we are online
(connected and registration accepted)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed


class Rpc(Protocol):
    """What the channel needs from the library's charge point on one connection."""

    used_ids: set[str]

    async def start(self) -> None: ...

    async def call(self, payload: Any, suppress: bool = ..., unique_id: str | None = ...) -> Any: ...


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    """Mark a finished CALL's outcome as seen (asyncio logs "exception was never retrieved" otherwise)."""
    if not task.cancelled():
        task.exception()


class Calls16:
    def __init__(self) -> None:
        self.cp: Rpc | None = None
        self.online_event = asyncio.Event()  # connected and registration accepted
        self.closed = asyncio.Event()  # the current session ended (a new one gets a new event)

    @property
    def online(self) -> bool:
        return self.online_event.is_set()

    async def run(self, cp: Rpc, registered: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """One OCPP session: read frames while `registered` runs; ends when either ends."""
        self.cp = cp
        self.closed = asyncio.Event()
        reader = asyncio.create_task(cp.start(), name="ocpp-reader")
        runner = asyncio.create_task(registered(), name="ocpp-session")
        try:
            await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
            failure = runner.exception() if runner.done() and not runner.cancelled() else None
            if failure is not None and not isinstance(failure, ConnectionError | ConnectionClosed):
                raise failure
        finally:
            self.online_event.clear()
            self.closed.set()
            self.cp = None
            for task in (reader, runner):
                task.cancel()
            for task in (reader, runner):
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                    await task

    async def call(self, payload: Any, unique_id: str | None = None) -> Any:
        """Send one CALL on the current connection; ConnectionError if there is none or it drops."""
        cp, closed = self.cp, self.closed
        if cp is None:
            raise ConnectionError("not connected")
        request = asyncio.ensure_future(cp.call(payload, suppress=False, unique_id=unique_id))
        watcher = asyncio.ensure_future(closed.wait())
        try:
            await asyncio.wait({request, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not request.done():
                request.cancel()
            # However the CALL ends (answer, error, cancelled), nobody else will look at it.
            request.add_done_callback(_retrieve_outcome)
        # A request cancelled just above is not done yet (the task sees its cancellation only when it
        # runs next): asking it for its exception then would raise InvalidStateError.
        if not request.done() or request.cancelled():
            raise ConnectionError("connection lost while waiting for the answer")
        exc = request.exception()
        if isinstance(exc, ConnectionClosed):
            raise ConnectionError("connection lost") from exc
        return request.result()

    async def call_online(self, payload: Any) -> Any:
        """Send one CALL now; ConnectionError when not registered with the CSMS."""
        if not self.online:
            raise ConnectionError("not connected to the CSMS")
        return await self.call(payload)

    def queued_id(self, seq: int, attempts: int) -> str:
        """The unique id of outbox row `seq`: `q<seq>`, so a CSMS recognises a retransmission after a
        reconnect; a retry on the same connection gets a new one (OCPP-J 1.6 §4.1.4: never reuse an id on
        a connection)."""
        cp = self.cp
        unique_id = f"q{seq}"
        if cp is not None:
            if unique_id in cp.used_ids:
                unique_id = f"q{seq}.{attempts}"
            cp.used_ids.add(unique_id)
        return unique_id
