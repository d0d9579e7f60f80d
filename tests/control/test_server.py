"""The control socket: commands, errors, and malformed requests."""

import asyncio
import json

import pytest

from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.control.server import ControlError, ControlServer


@pytest.fixture
async def server(tmp_path):
    srv = ControlServer(tmp_path / "ctl.sock")

    async def echo(args):
        return {"echo": args}

    async def refuse(args):
        raise ControlError("not now")

    async def crash(args):
        raise RuntimeError("boom")

    srv.register("echo", echo)
    srv.register("refuse", refuse)
    srv.register("crash", crash)
    await srv.start()
    yield srv
    await srv.close()


async def test_round_trip_and_errors(server):
    result = await asyncio.to_thread(call, server.path, "echo", x=1)
    assert result == {"echo": {"x": 1}}
    with pytest.raises(CommandFailed, match="not now"):
        await asyncio.to_thread(call, server.path, "refuse")
    with pytest.raises(CommandFailed, match="internal error: boom"):
        await asyncio.to_thread(call, server.path, "crash")
    with pytest.raises(CommandFailed, match="unknown command 'nope'; known: crash, echo, refuse"):
        await asyncio.to_thread(call, server.path, "nope")


async def test_garbage_gets_an_error_reply(server):
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    writer.write(b"{not json\n")
    await writer.drain()
    reply = json.loads(await reader.readline())
    writer.close()
    assert reply == {"ok": False, "error": "request is not valid JSON"}
    assert (await server.dispatch(["x"]))["ok"] is False


def test_unreachable_controller_is_explained(tmp_path):
    with pytest.raises(ControllerUnreachable, match="is `chargepi run` running"):
        call(tmp_path / "missing.sock", "status")


def test_duplicate_registration_is_a_bug(tmp_path):
    srv = ControlServer(tmp_path / "s")

    async def h(args):
        return None

    srv.register("a", h)
    with pytest.raises(ValueError):
        srv.register("a", h)
