"""Development CSMS: an OCPP 1.6J and 2.0.1 central system on the `ocpp` library's server side, scriptable
in-process. Each connection speaks the version its subprotocol names (`ocpp1.6` or `ocpp2.0.1`; the 2.0.1
session is tools/csms/session201.py).

Stable API (used by end-to-end tests and the demo; extend, don't break):

    csms = DevCsms(host="127.0.0.1", port=0, accepted_tags=None, blocked_tags=(), tag_parents={},
                   boot_status="Accepted", heartbeat_interval=300, credentials=None, ssl_context=None,
                   log_stream=sys.stdout, record_stream=None, now=<UTC now>, response_timeout=30)
    await csms.start()            # or: async with DevCsms() as csms: ...
    csms.port, csms.url           # chosen port; "ws://127.0.0.1:<port>" (wss:// with ssl_context)
    csms.received                 # list[Received(action, payload)]: every CALL from any charge point,
                                  #   payload exactly as on the wire (camelCase JSON)
    await csms.wait_for(action, predicate=None, timeout=10.0, cp_id=None, since=0) -> payload
                                  # first CALL at index >= since matching; raises TimeoutError
    csms.mark()                   # len(received): pass as `since` to wait only for newer messages
    csms.count(action, cp_id=None) -> int
    await csms.wait_connected(cp_id, timeout=10.0) -> session
    await csms.wait_disconnected(cp_id, timeout=10.0)
    await csms.call(cp_id, ocpp.v16.call.X(...)) -> ocpp.v16.call_result.X
                                  #   (ocpp.v201.call.X for a 2.0.1 station)
                                  # CALLERROR raises OCPPError; not (or no longer) connected: ConnectionError
    await csms.disconnect(cp_id)  # close that charge point's websocket (it is expected to reconnect)
    csms.respond(action, responder)  # responder(cp_id, payload) -> dict | None: the raw CALLRESULT payload
                                  #   to send instead of the default (None: default); schema not checked
    csms.boot_status, csms.heartbeat_interval, csms.accepted_tags, csms.blocked_tags, csms.tag_parents
                                  # may be changed at any time
    csms.transactions             # dict[int, Transaction]: started/stopped 1.6 transactions by id
    csms.transactions_201         # dict[str, Transaction]: 2.0.1 transactions by the station's id
    csms.connected                # dict[cp_id, session] of open connections; csms.connects: ids in order
    csms.call_errors              # list[(cp_id, raw frame)]: CALLERRORs the CSMS answered (bad payloads)
    await csms.stop()             # closes everything; start() again reuses the same port

Authorization: a tag in `blocked_tags` is Blocked; otherwise Accepted when `accepted_tags` is None or holds
it, else Invalid. `tag_parents[tag]` is sent as parentIdTag. With `credentials` ({cp_id: password}) every
connection must present HTTP Basic auth with the charge point id as user name (OCPP security profile 1);
with `ssl_context` the server speaks TLS (profile 2). A client that offers neither `ocpp1.6` nor
`ocpp2.0.1` is refused with HTTP 400 (by websockets).
Every frame in both directions is printed to `log_stream` (one readable line each); with `record_stream`
each is also written there as one JSON line, raw as on the wire (`python -m tools.csms --record FILE`:
the durability tests read it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import sys
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TextIO
from urllib.parse import unquote

from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tools.csms.basics import Received, Transaction, handles, utc_z
from tools.csms.frames import LoggedFrames
from tools.csms.link import SendHook
from tools.csms.session201 import SUBPROTOCOL_201, CsmsSession201

SUBPROTOCOL = "ocpp1.6"
SUBPROTOCOLS = [SUBPROTOCOL, SUBPROTOCOL_201]


Responder = Callable[[str, dict[str, Any]], dict[str, Any] | None]


def _cp_id(path: str) -> str:
    """The charge point id: the last segment of the URL path, percent-decoded."""
    return unquote(path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])


def _real_now() -> datetime:
    return datetime.now(UTC)


class CsmsSession(LoggedFrames, OcppChargePoint):  # type: ignore[misc]  # the ocpp library is untyped
    """One OCPP 1.6 charge point's connection, seen from the central system."""

    def __init__(self, cp_id: str, connection: ServerConnection, csms: DevCsms) -> None:
        self.link = SendHook(connection, self._sending)  # what the library sends and recvs through
        super().__init__(cp_id, self.link, response_timeout=csms.response_timeout)
        self.csms = csms
        self.connection = connection
        self._pending: dict[str, str] = {}  # unique id -> action, for readable result logs

    def _id_tag_info(self, id_tag: str) -> dict[str, Any]:
        info: dict[str, Any] = {"status": self.csms.tag_status(id_tag)}
        parent = self.csms.tag_parents.get(id_tag)
        if parent is not None:
            info["parent_id_tag"] = parent
        return info

    @handles(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=utc_z(self.csms.now()),
            interval=self.csms.heartbeat_interval,
            status=self.csms.boot_status,
        )

    @handles(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=utc_z(self.csms.now()))

    @handles(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=self._id_tag_info(id_tag))

    @handles(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> call_result.StartTransaction:
        # A charger that lost our answer (a dropped link, a restart) sends the same StartTransaction again,
        # maybe under a new message id: it is the same transaction and keeps its id, as a real CSMS does.
        transaction_id = next(
            (t.transaction_id for t in self.csms.transactions.values()
             if (t.cp_id, t.connector_id, t.id_tag, t.meter_start, t.started)
             == (self.id, connector_id, id_tag, meter_start, timestamp)),
            None,
        )
        if transaction_id is None:
            transaction_id = next(self.csms.transaction_ids)
            self.csms.transactions[transaction_id] = Transaction(
                transaction_id, self.id, connector_id, id_tag, meter_start, timestamp
            )
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info=self._id_tag_info(id_tag)
        )

    @handles(Action.stop_transaction)
    def on_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: str,
        id_tag: str | None = None,
        reason: str | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        transaction = self.csms.transactions.get(transaction_id)
        if transaction is not None:
            transaction.meter_stop, transaction.stopped = meter_stop, timestamp
            transaction.reason = reason or "Local"
        info = self._id_tag_info(id_tag) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @handles(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @handles(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @handles(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @handles(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @handles(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    @handles(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()


class DevCsms:
    """The development central system. See the module docstring for the API."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        accepted_tags: Collection[str] | None = None,
        blocked_tags: Collection[str] = (),
        tag_parents: Mapping[str, str] | None = None,
        boot_status: str = "Accepted",
        heartbeat_interval: int = 300,
        credentials: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        log_stream: TextIO | None = sys.stdout,
        record_stream: TextIO | None = None,
        now: Callable[[], datetime] = _real_now,
        response_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.accepted_tags: set[str] | None = None if accepted_tags is None else set(accepted_tags)
        self.blocked_tags: set[str] = set(blocked_tags)
        self.tag_parents: dict[str, str] = dict(tag_parents or {})
        self.boot_status = boot_status
        self.heartbeat_interval = heartbeat_interval
        self.credentials = dict(credentials) if credentials is not None else None
        self.ssl_context = ssl_context
        self.log_stream = log_stream
        self.record_stream = record_stream
        self.now = now
        self.response_timeout = response_timeout
        self.received: list[Received] = []
        self._received_from: list[str] = []
        self.call_errors: list[tuple[str, str]] = []
        self.transactions: dict[int, Transaction] = {}
        self.transactions_201: dict[str, Transaction] = {}
        self.transaction_ids = itertools.count(1)
        self.connected: dict[str, CsmsSession | CsmsSession201] = {}
        self.connects: list[str] = []
        self.responders: dict[str, Responder] = {}
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self._basic_auth = basic_auth(realm="chargepi dev CSMS", check_credentials=self._check_password)

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        process_request = self._authenticate if self.credentials is not None else None
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            subprotocols=SUBPROTOCOLS,  # type: ignore[arg-type]
            process_request=process_request,
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._log(f"dev CSMS listening on {self.url}/<charge point id>")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> DevCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def tag_status(self, id_tag: str) -> str:
        if id_tag in self.blocked_tags:
            return "Blocked"
        if self.accepted_tags is None or id_tag in self.accepted_tags:
            return "Accepted"
        return "Invalid"

    def respond(self, action: str, responder: Responder | None) -> None:
        """Answer `action` with `responder(cp_id, payload)` (None removes the override)."""
        if responder is None:
            self.responders.pop(action, None)
        else:
            self.responders[action] = responder

    def mark(self) -> int:
        return len(self.received)

    def count(self, action: str, cp_id: str | None = None) -> int:
        return sum(
            1
            for (name, _), sender in zip(self.received, self._received_from, strict=True)
            if name == action and (cp_id is None or sender == cp_id)
        )

    async def wait_for(
        self,
        action: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109  # the documented test API; asyncio.timeout inside
        cp_id: str | None = None,
        since: int = 0,
    ) -> dict[str, Any]:
        """The payload of the first matching CALL received at index >= `since` (waiting for it)."""
        index = since
        async with asyncio.timeout(timeout):
            while True:
                while index < len(self.received):
                    name, payload = self.received[index]
                    sender = self._received_from[index]
                    index += 1
                    if name != action or (cp_id is not None and sender != cp_id):
                        continue
                    if predicate is None or predicate(payload):
                        return payload
                await self._next_change()

    async def wait_connected(self, cp_id: str,
                             timeout: float = 10.0) -> CsmsSession | CsmsSession201:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while cp_id not in self.connected:
                await self._next_change()
        return self.connected[cp_id]

    async def wait_disconnected(self, cp_id: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while cp_id in self.connected:
                await self._next_change()

    async def call(self, cp_id: str, payload: Any) -> Any:
        """Send a CSMS-initiated CALL; returns the call_result dataclass, raises OCPPError on CALLERROR."""
        session = self.connected.get(cp_id)
        if session is None:
            raise ConnectionError(f"charge point {cp_id!r} is not connected")
        try:
            return await session.call(payload, suppress=False)
        except ConnectionClosed as closed:
            raise ConnectionError(f"charge point {cp_id!r} disconnected") from closed

    async def disconnect(self, cp_id: str) -> None:
        session = self.connected.get(cp_id)
        if session is not None:
            await session.connection.close()

    def record(self, cp_id: str, action: str, payload: dict[str, Any]) -> None:
        self.received.append(Received(action, payload))
        self._received_from.append(cp_id)
        self._notify_change()

    def log_frame(self, cp_id: str, direction: str, what: str, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        self._log(f"[{cp_id}] {direction} {what} {text}")

    def record_frame(self, cp_id: str, direction: str, raw: str) -> None:
        """One JSON line per frame ({"at", "cp", "direction": "in"|"out", "frame"}), flushed at once."""
        if self.record_stream is None:
            return
        try:
            frame: Any = json.loads(raw)
        except ValueError:
            frame = raw
        entry = {"at": utc_z(datetime.now(UTC)), "cp": cp_id, "direction": direction, "frame": frame}
        self.record_stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.record_stream.flush()

    def _log(self, line: str) -> None:
        if self.log_stream is not None:
            stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
            print(f"{stamp} {line}", file=self.log_stream, flush=True)

    def _notify_change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _next_change(self) -> None:
        await self._changed.wait()

    def _check_password(self, username: str, password: str) -> bool:
        return self.credentials is not None and self.credentials.get(username) == password

    async def _authenticate(self, connection: ServerConnection, request: Request) -> Response | None:
        """HTTP Basic auth (security profile 1): the user name must be the charge point id in the path."""
        refused = await self._basic_auth(connection, request)
        if refused is not None:
            return refused
        cp_id = _cp_id(request.path)
        if connection.username != cp_id:
            self._log(f"[{cp_id}] refused: authenticated as {connection.username!r}")
            return connection.respond(HTTPStatus.UNAUTHORIZED, "user name must be the charge point id\n")
        return None

    async def _serve_connection(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else "/"
        cp_id = _cp_id(path)
        if not cp_id:
            self._log(f"refused connection without a charge point id in path {path!r}")
            await connection.close(1008, "charge point id missing in URL path")
            return
        session: CsmsSession | CsmsSession201 = (
            CsmsSession201(cp_id, connection, self) if connection.subprotocol == SUBPROTOCOL_201
            else CsmsSession(cp_id, connection, self))
        previous = self.connected.get(cp_id)
        self.connected[cp_id] = session
        self.connects.append(cp_id)
        self._log(f"[{cp_id}] connected ({connection.subprotocol}) from {connection.remote_address}")
        self._notify_change()
        if previous is not None:
            await previous.connection.close(1000, "replaced by a new connection")
        try:
            await session.start()
        except ConnectionClosed as closed:
            self._log(f"[{cp_id}] disconnected ({closed.rcvd.code if closed.rcvd else 'no close frame'})")
        finally:
            if self.connected.get(cp_id) is session:
                del self.connected[cp_id]
            self._notify_change()
