"""A test CSMS for OCPP 2.0.1 built on the `ocpp` library's v201 server side (schema validation both ways),
recording what the charging station sends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import ServerConnection, serve

from firmware.ocpp.v201.charge_point import SUBPROTOCOL, on

NOW = "2030-06-01T12:00:00.000Z"


@dataclass
class Csms:
    boot_answers: list[tuple[str, int]] = field(default_factory=list)  # (status, interval), then Accepted
    boots: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    reports: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    peer: CsmsSide | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def report_done(self, request_id: int) -> asyncio.Event:
        return self.done.setdefault(request_id, asyncio.Event())


class CsmsSide(ChargePoint):  # type: ignore[misc]
    def __init__(self, csms: Csms, ws: ServerConnection) -> None:
        super().__init__("CP-1", ws, response_timeout=5)
        self.csms = csms

    @on("BootNotification")
    def on_boot(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        self.csms.boots.append({"charging_station": charging_station, "reason": reason})
        status, interval = self.csms.boot_answers.pop(0) if self.csms.boot_answers else ("Accepted", 120)
        return call_result.BootNotification(current_time=NOW, interval=interval, status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **kwargs: Any) -> Any:
        self.csms.heartbeats += 1
        return call_result.Heartbeat(current_time=NOW)

    @on("StatusNotification")
    def on_status(self, **kwargs: Any) -> Any:
        self.csms.statuses.append(kwargs)
        return call_result.StatusNotification()

    @on("NotifyReport")
    def on_notify_report(self, request_id: int, seq_no: int, report_data: list[dict[str, Any]],
                         tbc: bool = False, **kwargs: Any) -> Any:
        self.csms.reports.setdefault(request_id, []).append({"seq_no": seq_no, "tbc": tbc,
                                                              "report_data": report_data})
        if not tbc:
            self.csms.report_done(request_id).set()
        return call_result.NotifyReport()


@contextlib.asynccontextmanager
async def running_csms() -> AsyncIterator[Csms]:
    csms = Csms()

    async def handler(ws: ServerConnection) -> None:
        assert ws.subprotocol == "ocpp2.0.1"
        csms.peer = CsmsSide(csms, ws)
        csms.connected.set()
        with contextlib.suppress(Exception):
            await csms.peer.start()

    async with serve(handler, "127.0.0.1", 0, subprotocols=[SUBPROTOCOL]) as server:
        csms.port = server.sockets[0].getsockname()[1]
        yield csms
