"""Runs the strict ocpp-rpc CSMS (tools/interop/csms.js) on 127.0.0.1 with a free port, for interop tests.

`run_interop_csms(*cli_args)` yields an `InteropCsms` with the websocket base URL, every line the CSMS
recorded (`messages`), helpers to find what it received, and `call()` to send CSMS-initiated calls. It skips
the test (with the reason) when node or the npm packages are missing: `make interop-setup` installs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).resolve().parents[2] / "tools" / "interop"


class InteropCallError(Exception):
    """The ocpp-rpc CSMS could not complete a CSMS-initiated call (CALLERROR, validation, timeout)."""


class InteropCsms:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.url = ""
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)

    async def read_output(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.messages.append(json.loads(line))
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_event(
        self, match: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        index = 0
        async with asyncio.timeout(within):
            while True:
                for message in self.messages[index:]:
                    if match(message):
                        return message
                index = len(self.messages)
                if self.proc.returncode is not None:
                    raise RuntimeError(f"interop CSMS exited with {self.proc.returncode}")
                await self._changed.wait()

    def calls(self, action: str | None = None, cp: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(action, payload) of every CALL the CSMS received, in order."""
        return [
            (m["frame"][2], m["frame"][3])
            for m in self.messages
            if m["event"] == "frame"
            and not m["outbound"]
            and isinstance(m["frame"], list)
            and m["frame"][0] == 2
            and (action is None or m["frame"][2] == action)
            and (cp is None or m["cp"] == cp)
        ]

    @property
    def validation_failures(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == "validation_failure"]

    @property
    def call_errors_sent(self) -> list[list[Any]]:
        """CALLERROR frames the CSMS sent (it rejected something the charge point sent)."""
        return [
            m["frame"]
            for m in self.messages
            if m["event"] == "frame" and m["outbound"] and isinstance(m["frame"], list) and m["frame"][0] == 4
        ]

    async def wait_for(
        self, action: str, predicate: Callable[[dict[str, Any]], bool] | None = None, within: float = 10.0
    ) -> dict[str, Any]:
        def match(m: dict[str, Any]) -> bool:
            frame = m.get("frame")
            return (
                m["event"] == "frame"
                and not m["outbound"]
                and isinstance(frame, list)
                and frame[0] == 2
                and frame[2] == action
                and (predicate is None or predicate(frame[3]))
            )

        found = await self.wait_event(match, within)
        payload: dict[str, Any] = found["frame"][3]
        return payload

    async def call(
        self, cp: str, method: str, params: dict[str, Any], within: float = 10.0
    ) -> dict[str, Any]:
        command_id = next(self._ids)
        assert self.proc.stdin is not None
        command = {"id": command_id, "cp": cp, "method": method, "params": params}
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        answer = await self.wait_event(
            lambda m: m["event"] == "command_result" and m["id"] == command_id, within
        )
        if "error" in answer:
            raise InteropCallError(answer["error"])
        result: dict[str, Any] = answer["result"]
        return result


@contextlib.asynccontextmanager
async def run_interop_csms(*cli_args: str) -> AsyncIterator[InteropCsms]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ocpp-rpc interop CSMS needs it")
    if not (INTEROP_DIR / "node_modules" / "ocpp-rpc").is_dir():
        pytest.skip("ocpp-rpc is not installed: run `make interop-setup` (npm ci in tools/interop)")
    proc = await asyncio.create_subprocess_exec(
        node, str(INTEROP_DIR / "csms.js"), "--port", "0", *cli_args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=INTEROP_DIR,
    )  # fmt: skip
    csms = InteropCsms(proc)
    reader = asyncio.create_task(csms.read_output())
    try:
        listening = await csms.wait_event(lambda m: m["event"] == "listening", within=30)
        scheme = "wss" if listening.get("tls") else "ws"
        csms.url = f"{scheme}://127.0.0.1:{listening['port']}"
        yield csms
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await reader
