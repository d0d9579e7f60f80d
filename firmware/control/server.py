"""The controller side of the control socket. Components register named commands on it.

Wire format (one line each way, UTF-8 JSON):
    request:  {"command": "status", "args": {...}}
    reply:    {"ok": true, "result": ...}  or  {"ok": false, "error": "human readable"}

Each command needs a role (firmware/control/roles.py), checked against the kernel's credentials of the
connecting process; a caller without the technician role gets every idTag in a reply masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from firmware.audit.trail import emit
from firmware.control.roles import EVERY_ROLE, AccessPolicy, Peer, Role, peer_of, without_id_tags

log = logging.getLogger(__name__)


def user_name(peer: Peer) -> str:
    """Who is at the other end of the socket, for the audit trail: a user name, e.g. `root`."""
    try:
        return pwd.getpwuid(peer.uid).pw_name
    except KeyError:
        return f"uid {peer.uid}"


def _shown(args: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in args.items() if value not in (None, False, ""))

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
MAX_REQUEST_BYTES = 64 * 1024


class ControlError(Exception):
    """Raised by a handler to answer the client with an error message."""


class ControlServer:
    def __init__(self, path: Path, policy: AccessPolicy | None = None) -> None:
        self.path = path
        self.policy = policy or AccessPolicy()
        self._handlers: dict[str, tuple[Handler, Role]] = {}
        self._server: asyncio.AbstractServer | None = None

    def register(self, command: str, handler: Handler, role: Role = Role.TECHNICIAN) -> None:
        """Offer `command`; only callers with `role` may run it (technician unless said otherwise)."""
        if command in self._handlers:
            raise ValueError(f"control command {command!r} registered twice")
        self._handlers[command] = (handler, role)

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

    async def dispatch(self, request: Any, roles: frozenset[Role] = EVERY_ROLE,
                       who: str = "unknown") -> dict[str, Any]:
        """Run one request for caller `who` holding `roles` (in-process callers hold every role).
        Every command that needs more than the read-only role goes to the audit trail, refused or not."""
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": "request must be an object with a string 'command'"}
        command = request["command"]
        entry = self._handlers.get(command)
        if entry is None:
            return {"ok": False, "error": f"unknown command {command!r}; known: {', '.join(self.commands)}"}
        handler, needed = entry
        args = request.get("args") or {}
        if not isinstance(args, dict):
            return {"ok": False, "error": "'args' must be an object"}
        reply: dict[str, Any]
        if needed not in roles:
            reply = {"ok": False, "error": self.policy.refusal(command, needed, roles)}
        else:
            try:
                result = await handler(args)
                shown = result if Role.TECHNICIAN in roles else without_id_tags(result)
                reply = {"ok": True, "result": shown}
            except ControlError as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:
                log.exception("control command %s failed", command)
                reply = {"ok": False, "error": f"internal error: {exc}"}
        if needed is not Role.READ_ONLY:
            outcome = "done" if reply["ok"] else f"refused: {reply['error']}"
            emit("technician-command", f"{who} ran `{command}` {_shown(args)}: {outcome}",
                 who=who, command=command, params=args, outcome=outcome)
        return reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                peer = peer_of(writer.get_extra_info("socket"))
                roles, who = self.policy.roles_of(peer), user_name(peer)
            except OSError as exc:
                log.warning("control socket: cannot read the caller's credentials (%s): no role", exc)
                roles, who = frozenset(), "unknown"
            line = await reader.readline()
            reply: dict[str, Any]
            try:
                request = json.loads(line)
            except ValueError:
                reply = {"ok": False, "error": "request is not valid JSON"}
            else:
                reply = await self.dispatch(request, roles, who)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            log.debug("control client went away or sent too much")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
