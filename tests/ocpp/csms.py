"""A test CSMS built on the `ocpp` library's server side, recording every frame it receives."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from firmware.ocpp.v16.charge_point import on
from tools.csms.link import SendHook

CSMS_TIME = "2030-06-01T12:00:00.000Z"


class CsmsChargePoint(ChargePoint):  # type: ignore[misc]
    def __init__(self, server: TestCsms, cp_id: str, ws: ServerConnection) -> None:
        super().__init__(cp_id, SendHook(ws, self._sending), response_timeout=5)
        self.server = server
        self.ws = ws  # frames sent straight on it are not recorded as the CSMS's own

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        self.server.frames.append(frame)
        self.server.wire.append(("in", frame))
        if frame[0] == 2:
            uid = frame[1]
            if uid in self.server.seen_ids and self.server.replies.get(uid) is not None:
                # An idempotent CSMS answers a retransmitted CALL (same unique id) with its first answer.
                self.server.retransmissions.append(frame)
                self.server.wire.append(("out", [3, uid, self.server.replies[uid]]))
                await self.ws.send(json.dumps([3, uid, self.server.replies[uid]]))
                return
            self.server.seen_ids.add(uid)
            if self.server.silence.get(frame[2], 0) > 0:
                self.server.silence[frame[2]] -= 1  # a CSMS that lost the CALL: no answer at all
                return
            if frame[2] in self.server.not_implemented:
                await self.ws.send(json.dumps([4, uid, "NotImplemented", "not here", {}]))
                return
            broken = self.server.broken_replies.get(frame[2])
            if broken is not None:
                await self.ws.send(broken.replace("UID", uid))
                return
        await super().route_message(raw_msg)

    def _sending(self, message: str) -> None:
        frame = json.loads(message)
        self.server.wire.append(("out", frame))
        if frame[0] == 3:
            self.server.replies[frame[1]] = frame[2]

    @on(Action.boot_notification)
    def on_boot(self, **kwargs: Any) -> Any:
        status, interval = self.server.boot_answers.pop(0) if self.server.boot_answers else ("Accepted", 300)
        return call_result.BootNotification(current_time=self.server.now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        return call_result.Heartbeat(current_time=self.server.now())

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
        return call_result.Authorize(id_tag_info=self.server.id_tag_info(id_tag))

    @on(Action.start_transaction)
    def on_start(self, id_tag: str, **kwargs: Any) -> Any:
        if self.server.fail_start:
            raise ValueError("CSMS refuses for the test")
        return call_result.StartTransaction(
            transaction_id=next(self.server.tx_ids), id_tag_info=self.server.id_tag_info(id_tag)
        )

    @on(Action.stop_transaction)
    def on_stop(self, **kwargs: Any) -> Any:
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.status_notification)
    def on_status(self, **kwargs: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.firmware_status_notification)
    def on_fw_status(self, **kwargs: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_fw_status(self, **kwargs: Any) -> Any:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diag_status(self, **kwargs: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **kwargs: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **kwargs: Any) -> Any:
        return call_result.SignCertificate(status="Accepted")

    @on(Action.log_status_notification)
    def on_log_status(self, **kwargs: Any) -> Any:
        return call_result.LogStatusNotification()


class TestCsms:
    __test__ = False

    def __init__(
        self, subprotocol: str | None = "ocpp1.6", check_auth: Callable[[str | None], bool] | None = None
    ) -> None:
        self.frames: list[list[Any]] = []  # received
        self.wire: list[tuple[str, list[Any]]] = []  # both directions, in order
        self.seen_ids: set[str] = set()
        self.replies: dict[str, Any] = {}
        self.retransmissions: list[list[Any]] = []
        self.boot_answers: list[tuple[str, int]] = []
        self.tags: dict[str, dict[str, Any]] = {}
        self.tx_ids: Iterator[int] = itertools.count(101)
        self.fail_start = False
        self.time_source: Callable[[], str] | None = None  # the CSMS clock; default a fixed CSMS_TIME
        self.silence: dict[str, int] = {}  # action -> how many of its next CALLs go unanswered
        self.broken_replies: dict[str, str] = {}  # action -> raw reply frame, "UID" replaced by the id
        self.cp: CsmsChargePoint | None = None
        self.connections = 0
        self.paths: list[str] = []
        self.auth_headers: list[str | None] = []
        self.peer_subjects: list[str | None] = []  # TLS client certificate of each connection
        self.peer_serials: list[int | None] = []
        self.not_implemented: set[str] = set()  # actions answered with CALLERROR NotImplemented
        self._subprotocol = subprotocol
        self._check_auth = check_auth
        self._server: Server | None = None
        self.connected = asyncio.Event()

    def now(self) -> str:
        return self.time_source() if self.time_source is not None else CSMS_TIME

    def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        return self.tags.get(id_tag, {"status": "Accepted"})

    async def start(self, ssl: Any = None) -> int:
        protocols = [Subprotocol(self._subprotocol)] if self._subprotocol else None
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=protocols,
            process_request=self._process_request,
            ssl=ssl,
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        header = request.headers.get("Authorization")
        self.auth_headers.append(header)
        if self._check_auth is not None and not self._check_auth(header):
            return connection.respond(401, "bad credentials\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        path = ws.request.path if ws.request else ""
        self.paths.append(path)
        ssl_object = ws.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        peer = x509.load_der_x509_certificate(der) if der else None
        self.peer_subjects.append(peer.subject.rfc4514_string() if peer else None)
        self.peer_serials.append(peer.serial_number if peer else None)
        cp = CsmsChargePoint(self, path.rsplit("/", 1)[-1], ws)
        self.cp = cp
        self.connected.set()
        try:
            await cp.start()
        except Exception:
            pass
        finally:
            if self.cp is cp:
                self.cp = None
                self.connected.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def kick(self) -> None:
        """Close the current charger connection from the CSMS side."""
        if self.cp is not None:
            await self.cp.ws.close()

    async def send_raw(self, frame: str) -> None:
        assert self.cp is not None
        await self.cp.ws.send(frame)

    # ---- queries ----
    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return [f[3] for f in self.frames if f[0] == 2 and (action is None or f[2] == action)]

    def actions(self) -> list[str]:
        return [f[2] for f in self.frames if f[0] == 2]

    def answers(self, unique_id: str) -> list[list[Any]]:
        return [f for f in self.frames if f[0] in (3, 4) and f[1] == unique_id]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
