"""The controller side of the control socket. Components register named commands on it.

Wire format (one line each way, UTF-8 JSON):
    request:  {"command": "status", "args": {...}}
    reply:    {"ok": true, "result": ...}  or  {"ok": false, "error": "human readable"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from firmware.audit.trail import emit

log = logging.getLogger(__name__)


def peer_name(writer: asyncio.StreamWriter) -> str:
    """The user at the other end of the unix socket (kernel-checked: SO_PEERCRED), e.g. `root`."""
    sock = writer.get_extra_info("socket")
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
    except (AttributeError, OSError):
        return "unknown"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _shown(args: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in args.items() if value not in (None, False, ""))

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
# Commands that only read: not written to the audit trail.
READ_ONLY_COMMANDS = frozenset({"status"})
MAX_REQUEST_BYTES = 64 * 1024


class ControlError(Exception):
    """Raised by a handler to answer the client with an error message."""


class ControlServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handlers: dict[str, Handler] = {}
        self._server: asyncio.AbstractServer | None = None

    def register(self, command: str, handler: Handler) -> None:
        if command in self._handlers:
            raise ValueError(f"control command {command!r} registered twice")
        self._handlers[command] = handler

    @property
    def commands(self) -> list[str]:
        return sorted(self._handlers)

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                       limit=MAX_REQUEST_BYTES)
        os.chmod(self.path, 0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def dispatch(self, request: Any, who: str = "unknown") -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": "request must be an object with a string 'command'"}
        handler = self._handlers.get(request["command"])
        if handler is None:
            return {"ok": False, "error": f"unknown command {request['command']!r}; "
                                          f"known: {', '.join(self.commands)}"}
        args = request.get("args") or {}
        if not isinstance(args, dict):
            return {"ok": False, "error": "'args' must be an object"}
        try:
            reply = {"ok": True, "result": await handler(args)}
        except ControlError as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control command %s failed", request["command"])
            reply = {"ok": False, "error": f"internal error: {exc}"}
        if request["command"] not in READ_ONLY_COMMANDS:
            outcome = "done" if reply["ok"] else f"refused: {reply['error']}"
            emit("technician-command", f"{who} ran `{request['command']}` {_shown(args)}: {outcome}",
                 who=who, command=request["command"], params=args, outcome=outcome)
        return reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
            except ValueError:
                reply: dict[str, Any] = {"ok": False, "error": "request is not valid JSON"}
            else:
                reply = await self.dispatch(request, peer_name(writer))
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            log.debug("control client went away or sent too much")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
