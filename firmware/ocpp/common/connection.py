"""The websocket link to the CSMS: connects, runs one OCPP session per connection, reconnects forever.

Reconnects use exponential backoff with full jitter between `reconnect_min_s` and `reconnect_max_s`, and
always wait at least `reconnect_min_s`, also after a CSMS accepted and at once closed (websockets' own
loop would reconnect with zero delay then; docs/reference/ocpp-libraries.md §2). Authentication (HTTP
401/403) and TLS failures are not given up on (websockets' loop would raise them) but retried with
`auth_failure_backoff_s`.
Where and how to connect (endpoint, security profile, TLS context) is asked of the link security
(`link_security.py`) before every attempt; it is told whether each attempt succeeded, so it can fall back
from a failed security profile upgrade. The server must select the `ocpp1.6` subprotocol.
Liveness: websocket ping every WebSocketPingInterval; no pong within the same interval closes the socket,
so a dead-but-open link is noticed within 2 intervals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.headers import build_authorization_basic
from websockets.protocol import State
from websockets.typing import Subprotocol

from firmware import __version__
from firmware.ocpp.common.link_security import LinkTarget
from firmware.ocpp.settings import OcppSettings
from hal.clock import Clock

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")
STABLE_AFTER_S = 60.0  # a connection that lived this long resets the backoff
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CLOSE_TIMEOUT_S = 5.0  # SendLocalList with 500 entries fits easily

Session = Callable[[ClientConnection], Awaitable[None]]


def backoff_delay(failures: int, minimum: float, maximum: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff, never below `minimum`."""
    ceiling = min(maximum, minimum * (2 ** min(failures, 30)))
    return rng.uniform(minimum, max(minimum, ceiling))


class LinkSecurityPort(Protocol):
    def target(self) -> LinkTarget: ...

    def link_up(self) -> None: ...

    def link_failed(self, exc: BaseException) -> bool: ...


class OcppLink:
    def __init__(self, settings: OcppSettings, clock: Clock, session: Session,
                 ping_interval: Callable[[], float], authorization_key: Callable[[], str | None],
                 security: LinkSecurityPort, rng: random.Random | None = None,
                 subprotocol: Subprotocol = SUBPROTOCOL) -> None:
        self._settings = settings
        self._subprotocol = subprotocol
        self._security = security
        self._clock = clock
        self._session = session
        self._ping_interval = ping_interval
        self._authorization_key = authorization_key
        self._rng = rng or random.Random()
        if settings.url.startswith("wss://") and not settings.tls_check_hostname:
            log.warning("[ocpp] tls_check_hostname = false: the CSMS certificate is not checked against the "
                        "host name %s; use this only with a private test CA", settings.url)
        self._enabled = asyncio.Event()
        self._enabled.set()
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._immediate = False
        self.state = "disconnected"
        self.last_error: str | None = None
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.state is State.OPEN

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    async def disable(self) -> None:
        """Drop the connection and stay offline until `enable()` (technician command, tests)."""
        self._enabled.clear()
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "disconnected by technician")

    def enable(self) -> None:
        self._enabled.set()
        self._wake.set()

    async def reconnect(self) -> None:
        """Close the current connection; the run loop connects again at once (e.g. new credentials)."""
        self._immediate = True
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "reconnecting")

    def _connect_kwargs(self, target: LinkTarget) -> dict[str, object]:
        headers: dict[str, str] = {}
        key = self._authorization_key()
        if target.basic_auth and key:
            headers["Authorization"] = build_authorization_basic(self._settings.charge_point_id, key)
        ping = self._ping_interval()
        kwargs: dict[str, object] = {
            "subprotocols": [self._subprotocol], "additional_headers": headers,
            "open_timeout": self._settings.response_timeout_s,
            "ping_interval": ping or None, "ping_timeout": ping or None,
            # A peer that stopped reading never completes the closing handshake: do not wait long for it.
            "close_timeout": min(ping, CLOSE_TIMEOUT_S) if ping else CLOSE_TIMEOUT_S,
            "proxy": None, "compression": None, "max_size": MAX_MESSAGE_BYTES,
            "user_agent_header": f"chargepi/{__version__}",
        }
        if target.ssl is not None:
            kwargs["ssl"] = target.ssl
        return kwargs

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock, cut short by enable/disable since the last connection attempt began."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def run(self) -> None:
        failures = 0
        while True:
            if not self._enabled.is_set():
                self.state = "disabled"
                await self._enabled.wait()
            self.state = "connecting"
            self._wake.clear()
            delay: float | None = None
            opened = False
            try:
                target = self._security.target()
                if target.basic_auth and target.endpoint.startswith("ws://"):
                    log.warning("security profile 1 over ws://: the Basic auth password goes to %s in clear "
                                "text (allowed by ocpp.allow_insecure_basic_auth)", target.endpoint)
                async with connect(target.endpoint, **self._connect_kwargs(target)) as ws:  # type: ignore[arg-type]
                    if ws.subprotocol != self._subprotocol:
                        raise InvalidHandshake(f"CSMS did not select subprotocol {self._subprotocol} "
                                               f"(got {ws.subprotocol!r})")
                    opened = True
                    self._security.link_up()
                    self._ws = ws
                    self.state = "connected"
                    self.last_error = None
                    self.connections += 1
                    since = self._clock.monotonic()
                    log.info("connected to %s (security profile %d)", target.endpoint,
                             target.security_profile)
                    try:
                        await self._session(ws)
                    finally:
                        self._ws = None
                    lived = self._clock.monotonic() - since
                    failures = 0 if lived >= STABLE_AFTER_S else failures + 1
                    self.last_error = f"connection closed (code {ws.close_code})"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = self._failure_delay(exc)
                if not opened and self._security.link_failed(exc):
                    delay = 0.0  # fell back from a failed security profile upgrade: try the old one now
            self.state = "disconnected"
            if self._immediate:
                self._immediate = False
                delay = 0.0
            if delay is None:
                delay = backoff_delay(failures, self._settings.reconnect_min_s,
                                      self._settings.reconnect_max_s, self._rng)
            log.warning("OCPP link down (%s); next attempt in %.1f s", self.last_error, delay)
            if self._enabled.is_set():
                await self._pause(delay)

    def _failure_delay(self, exc: Exception) -> float | None:
        """Note why the link is down; the pause before the next attempt (None: the usual backoff)."""
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            self.last_error = f"CSMS answered HTTP {status}"
            return self._settings.auth_failure_backoff_s if status in (401, 403) else None
        if isinstance(exc, ssl.SSLError):
            self.last_error = f"TLS failure: {exc}"
            return self._settings.auth_failure_backoff_s
        if isinstance(exc, InvalidURI | ValueError):
            self.last_error = f"bad CSMS url: {exc}"
            return self._settings.auth_failure_backoff_s
        if isinstance(exc, OSError | TimeoutError | InvalidHandshake):
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        # The session itself failed; never let that end the reconnect loop.
        log.exception("OCPP session failed")
        self.last_error = f"{type(exc).__name__}: {exc}"
        return None

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
