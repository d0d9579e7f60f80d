"""A test CSMS for OCPP 2.0.1 built on the `ocpp` library's v201 server side (schema validation both ways).

It answers every message a charging station may send and records each request by action
(`csms.received["TransactionEvent"]`, payloads in the library's snake_case). A test changes an answer with
`csms.answers[action] = lambda payload: call_result.X(...)`; the defaults accept everything. Requests to the
station go through `csms.peer.call(...)`; wait for a message with
`await eventually(lambda: csms.of("NotifyEvent"), h.clock, ...)` (tests/ocpp/conftest.py). A test of bad
input sends a frame as it is with `csms.send_raw(...)` and reads the station's answer with
`csms.answers_to(unique_id)` (every frame the station sent is in `csms.frames`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import ServerConnection, serve

from firmware.ocpp.v201.charge_point import SUBPROTOCOL, on

NOW = "2030-06-01T12:00:00.000Z"
ACCEPTED = {"status": "Accepted"}

Answer = Callable[[dict[str, Any]], Any]

# Every message a charging station sends (OCPP 2.0.1 part 2 §1), with the answer of a CSMS that accepts all.
DEFAULT_ANSWERS: dict[str, Answer] = {
    "Authorize": lambda p: call_result.Authorize(id_token_info=ACCEPTED),
    "ClearedChargingLimit": lambda p: call_result.ClearedChargingLimit(),
    "DataTransfer": lambda p: call_result.DataTransfer(status="UnknownVendorId"),
    "FirmwareStatusNotification": lambda p: call_result.FirmwareStatusNotification(),
    "Get15118EVCertificate": lambda p: call_result.Get15118EVCertificate(status="Failed", exi_response=""),
    "GetCertificateStatus": lambda p: call_result.GetCertificateStatus(status="Failed"),
    "Heartbeat": lambda p: call_result.Heartbeat(current_time=NOW),
    "LogStatusNotification": lambda p: call_result.LogStatusNotification(),
    "MeterValues": lambda p: call_result.MeterValues(),
    "NotifyChargingLimit": lambda p: call_result.NotifyChargingLimit(),
    "NotifyCustomerInformation": lambda p: call_result.NotifyCustomerInformation(),
    "NotifyDisplayMessages": lambda p: call_result.NotifyDisplayMessages(),
    "NotifyEVChargingNeeds": lambda p: call_result.NotifyEVChargingNeeds(status="Accepted"),
    "NotifyEVChargingSchedule": lambda p: call_result.NotifyEVChargingSchedule(status="Accepted"),
    "NotifyEvent": lambda p: call_result.NotifyEvent(),
    "NotifyMonitoringReport": lambda p: call_result.NotifyMonitoringReport(),
    "NotifyReport": lambda p: call_result.NotifyReport(),
    "PublishFirmwareStatusNotification": lambda p: call_result.PublishFirmwareStatusNotification(),
    "ReportChargingProfiles": lambda p: call_result.ReportChargingProfiles(),
    "ReservationStatusUpdate": lambda p: call_result.ReservationStatusUpdate(),
    "SecurityEventNotification": lambda p: call_result.SecurityEventNotification(),
    "SignCertificate": lambda p: call_result.SignCertificate(status="Accepted"),
    "StatusNotification": lambda p: call_result.StatusNotification(),
    "TransactionEvent": lambda p: call_result.TransactionEvent(),
}


@dataclass
class Csms:
    boot_answers: list[tuple[str, int]] = field(default_factory=list)  # (status, interval), then Accepted
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    reports: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    peer: CsmsSide | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    frames: list[list[Any]] = field(default_factory=list)  # every frame the station sent, parsed
    scheme: str = "ws"
    client_certificates: list[bytes | None] = field(default_factory=list)  # DER, per TLS connection

    async def send_raw(self, frame: str) -> None:
        """Send `frame` to the station as it is, past the library (it may be anything but OCPP)."""
        assert self.peer is not None
        await self.peer.ws.send(frame)

    def answers_to(self, unique_id: str) -> list[list[Any]]:
        """The station's CALLRESULTs and CALLERRORs for `unique_id`."""
        return [f for f in self.frames if f[0] in (3, 4) and f[1] == unique_id]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def boots(self) -> list[dict[str, Any]]:
        return self.received.get("BootNotification", [])

    @property
    def statuses(self) -> list[dict[str, Any]]:
        return self.received.get("StatusNotification", [])

    @property
    def heartbeats(self) -> int:
        return len(self.received.get("Heartbeat", []))

    def of(self, action: str) -> list[dict[str, Any]]:
        """Every `action` request received so far, oldest first."""
        return self.received.get(action, [])

    def report_done(self, request_id: int) -> asyncio.Event:
        return self.done.setdefault(request_id, asyncio.Event())

    def answer(self, action: str, payload: dict[str, Any]) -> Any:
        self.received.setdefault(action, []).append(payload)
        if action == "BootNotification":
            return self._boot_answer()
        if action == "NotifyReport":
            self._keep_report(**payload)
        return self.answers.get(action, DEFAULT_ANSWERS[action])(payload)

    def _boot_answer(self) -> Any:
        status, interval = self.boot_answers.pop(0) if self.boot_answers else ("Accepted", 120)
        return call_result.BootNotification(current_time=NOW, interval=interval, status=status)

    def _keep_report(self, request_id: int, seq_no: int, report_data: list[dict[str, Any]] | None = None,
                     tbc: bool = False, **kwargs: Any) -> None:
        self.reports.setdefault(request_id, []).append({"seq_no": seq_no, "tbc": tbc,
                                                         "report_data": report_data or []})
        if not tbc:
            self.report_done(request_id).set()


class CsmsSide(ChargePoint):  # type: ignore[misc]
    """The CSMS end of one station's websocket: every station message goes to `Csms.answer`."""

    def __init__(self, csms: Csms, ws: ServerConnection) -> None:
        for action in (*DEFAULT_ANSWERS, "BootNotification"):
            setattr(self, _handler_name(action), _recorder(csms, action))  # read by the route map below
        super().__init__("CP-1", ws, response_timeout=5)
        self.csms = csms
        self.ws = ws

    async def route_message(self, raw_msg: str) -> None:
        self.csms.frames.append(json.loads(raw_msg))
        await super().route_message(raw_msg)


def _handler_name(action: str) -> str:
    return f"on_{action}"


def _recorder(csms: Csms, action: str) -> Callable[..., Any]:
    def record(**payload: Any) -> Any:
        return csms.answer(action, payload)

    record.__name__ = _handler_name(action)
    return on(action)(record)


@contextlib.asynccontextmanager
async def running_csms(tls: ssl.SSLContext | None = None) -> AsyncIterator[Csms]:
    """The CSMS on a free port; with `tls` a wss:// server (client certificates as the context says)."""
    csms = Csms(scheme="ws" if tls is None else "wss")

    async def handler(ws: ServerConnection) -> None:
        assert ws.subprotocol == "ocpp2.0.1"
        if tls is not None:
            csms.client_certificates.append(ws.transport.get_extra_info("ssl_object").getpeercert(True))
        csms.peer = CsmsSide(csms, ws)
        csms.connected.set()
        with contextlib.suppress(Exception):
            await csms.peer.start()

    async with serve(handler, "127.0.0.1", 0, subprotocols=[SUBPROTOCOL], ssl=tls) as server:
        csms.port = server.sockets[0].getsockname()[1]
        yield csms
