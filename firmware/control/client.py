"""The CLI side of the control socket."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class ControllerUnreachable(Exception):
    pass


class CommandFailed(Exception):
    pass


def call(path: Path, command: str, timeout: float = 10.0, **args: Any) -> Any:
    """Send one command to the running controller and return its result (blocking)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControllerUnreachable(
            f"no controller is listening on {path} (is `chargepi run` running with this config?)"
        ) from exc
    except PermissionError as exc:
        raise ControllerUnreachable(f"no permission to open {path}: run as root or join group chargepi") \
            from exc
    try:
        sock.sendall(json.dumps({"command": command, "args": args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    if not data:
        raise ControllerUnreachable("the controller closed the connection without answering")
    reply = json.loads(data)
    if not reply.get("ok"):
        raise CommandFailed(reply.get("error", "unknown error"))
    return reply.get("result")
