"""The OCPP 1.6J adapter: turns core events into OCPP messages and CSMS requests into StationApi calls.

Owns the websocket link, the registration (BootNotification) state, heartbeats, meter value timers, the
persistent outbox and the local authorizer. One OCPP session runs per websocket connection; everything
that must survive it (queued transaction messages, configuration, local list) lives in SQLite under
`<state_dir>/ocpp.sqlite3`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from firmware.control.server import ControlError, ControlServer
from firmware.core.api import StationApi
from firmware.core.events import (
    CoreEvent,
    MeterSampled,
    OfferChanged,
    SessionStarted,
    SessionStopped,
    StatusChanged,
)
from firmware.core.vocabulary import ConnectorState, LimitSource, StopReason
from firmware.display.service import DisplayService
from firmware.metering.signed import SignedMetering
from firmware.ocpp.common.connection import OcppLink
from firmware.ocpp.common.keystore import ConfigurationStore, KeySpec
from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.common.outbox import Kind, Outbox, Row
from firmware.ocpp.common.rate_limit import CallRateLimit
from firmware.ocpp.common.runtime import RestartHook
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.ocpp.v16.auth import LocalAuthorizer
from firmware.ocpp.v16.charge_point import ChargePoint16, ExtraRoute
from firmware.ocpp.v16.configuration import PROFILE_KEYS, standard_keys
from firmware.ocpp.v16.cost_messages import CaliforniaPricing16, cost_keys
from firmware.ocpp.v16.firmware_management import FirmwareManagement
from firmware.ocpp.v16.messages import METER_VALUES, START_TRANSACTION, STATUS_NOTIFICATION, STOP_TRANSACTION
from firmware.ocpp.v16.meter_values import meter_value
from firmware.ocpp.v16.security import SecurityExtensions
from firmware.ocpp.v16.signed_values import SignedValues16, signed_keys
from firmware.ocpp.v16.vocabulary import REASON, STATUS, Notification, StatusChanges16, notification
from firmware.redaction import remember_secret
from firmware.security.certificates import open_store
from firmware.security.events import SecurityEventType, SecurityLog, open_security_log
from firmware.settings import Settings
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir
from hal.clock import Clock
from hal.types import MeterReading

log = logging.getLogger(__name__)

RESET_EXIT_CODE = 75  # = firmware.app.EXIT_RESTART; systemd (Restart=always) brings the service back
BOOT_RETRY_DEFAULT_S = 60.0  # BootNotification.conf interval 0 (or no answer): our own retry period
RESET_SETTLE_MAX_S = 10.0
CLOCK_EVENT_MIN_S = 60.0  # a clock correction this large is a SettingSystemTime security event
STOP_GRACE_S = 5.0  # real seconds stop() waits for the answer to an outbox message in flight
CONTROL_WAIT_S = 3.0  # real seconds `chargepi ocpp connect|disconnect` waits to report the outcome
UNSUPPORTED = ("NotImplemented", "NotSupported")  # CALLERROR codes that no retry can change
FEATURE_PROFILES = "Core,LocalAuthListManagement,Reservation,RemoteTrigger"

DataTransferHandler = Callable[[str | None], tuple[str, str | None]]


class SmartChargingPort(Protocol):
    """What the adapter itself needs from smart charging in 1.6 terms (a `SmartCharging16`); the Smart
    Charging messages go to the same object through the charge point's handlers."""

    def accept_remote_start_profile(self, connector_id: int | None, cs_charging_profile: Any,
                                    wait_s: float | None = None) -> bool: ...

    def configuration_keys(self) -> dict[str, str]: ...


def _default_restart(hard: bool) -> None:
    raise SystemExit(RESET_EXIT_CODE)



def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    """Mark a finished CALL's outcome as seen (asyncio logs "exception was never retrieved" otherwise)."""
    if not task.cancelled():
        task.exception()


class OcppAdapter:
    def __init__(self, settings: Settings, station: StationApi, clock: Clock, state_dir: Path,
                 control: ControlServer, *, restart: RestartHook | None = None,
                 smart_charging: SmartChargingPort | None = None,
                 security_log: SecurityLog | None = None, storage: StateDir | None = None,
                 signed_metering: SignedMetering | None = None,
                 display: DisplayService | None = None) -> None:
        if settings.ocpp is None:
            raise ValueError("OcppAdapter needs an [ocpp] section")
        self.settings = settings.ocpp
        self.station_settings = settings.station
        # The library logs every frame at INFO: keep that off flash storage unless asked for.
        logging.getLogger("ocpp").setLevel(logging.INFO if self.settings.log_frames else logging.WARNING)
        self.station = station
        self.clock = clock
        self._restart = restart or _default_restart
        self.smart_charging = smart_charging
        state = storage if storage is not None and storage.path == state_dir else StateDir(state_dir)
        # Essential (queued transaction messages); private: holds idTags and the Basic auth password.
        self._db = StateDatabase(state, "ocpp.sqlite3", essential=True, synchronous="FULL", private=True,
                                 setup=None)
        profiles = FEATURE_PROFILES + (",SmartCharging" if smart_charging is not None else "") + (
            ",FirmwareManagement" if self.settings.firmware.enabled else "")
        keys = standard_keys(len(station.connector_ids), profiles,
                             connection_timeout_s=round(settings.station.connection_timeout_s),
                             security_profile=self.settings.security_profile,
                             ping_interval_s=round(self.settings.ping_interval_s),
                             authorization_key=self.settings.authorization_key or "")
        smart_keys = smart_charging.configuration_keys() if smart_charging is not None else {}
        for name, value in smart_keys.items():
            keys[name] = KeySpec(name, "str", value, writable=False)
        if signed_metering is not None:
            keys.update(signed_keys(station.connector_ids))
        if display is not None:
            keys.update(cost_keys())
        self.config = ConfigurationStore(self._db, keys, self.settings.configuration)
        self.available_profiles = frozenset(profiles.split(","))
        self.profiles = self._offered_profiles(set(smart_keys))
        remember_secret(self.settings.authorization_key, self.settings.charge_point_id)
        remember_secret(self.config.get("AuthorizationKey"), self.settings.charge_point_id)
        station.set_connection_timeout(self.config.get_int("ConnectionTimeOut"))
        self.outbox = Outbox(self._db)
        self.certificates = open_store(state_dir, self.settings.firmware.trust_roots)
        self._owns_security_log = security_log is None
        self.security_log = security_log or open_security_log(state_dir, clock, state)
        self.link_security = LinkSecurity(self.settings, self._db, self.config, self.certificates,
                                          self.security_log)
        self.authorizer = LocalAuthorizer(self._db, self.config, clock, self._online_authorize,
                                          lambda: self._online.is_set())
        self._db.salvage()  # the three stores made their tables: rebuild them from a quarantined file
        self.rate_limit = CallRateLimit(self.settings.rate_limit, clock.monotonic)
        self.link = OcppLink(self.settings, clock, self._session, lambda: self.config.get_int(
            "WebSocketPingInterval"), lambda: self.config.get("AuthorizationKey") or None, self.link_security)
        self.extra_routes: dict[str, ExtraRoute] = {}
        self.data_transfer_handlers: dict[str, dict[str, DataTransferHandler]] = {}
        self.register_data_transfer("chargepi", "Status", self._dt_status)
        # Hooks for the firmware-management modules: what a triggered status notification reports (a
        # sender per message name, taking the connector id), the version BootNotification names, and tasks
        # to run once the CSMS accepted us (e.g. report Installed).
        self.trigger_senders: dict[str, Callable[[int | None], Awaitable[None]]] = {}
        self.diagnostics_status: Callable[[], str] = lambda: "Idle"
        self.firmware_version: Callable[[], str] = lambda: settings.station.firmware_version
        self.after_registration: list[Callable[[], Awaitable[Any]]] = []
        self.cp: ChargePoint16 | None = None
        self.registration = "NotSent"  # NotSent, Pending, Rejected, Accepted (last BootNotification.conf)
        self._boot_accepted = False
        self._online = asyncio.Event()  # connected and registration accepted
        self._session_closed = asyncio.Event()
        self._outbox_changed = asyncio.Event()
        self._idle = asyncio.Event()  # no transaction message is waiting for its answer
        self._idle.set()
        self._boot_now = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._aligned_changed = asyncio.Event()
        self._status: dict[int, Notification] = {}  # the last StatusNotification of each connector
        self._changes = StatusChanges16()
        self._latest: dict[int, tuple[MeterReading, datetime]] = {}
        self._offered: dict[int, float] = {}
        self._remote_claims: dict[int, float] = {}  # connector -> monotonic end of a remote start's claim
        self._samplers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._trigger_turn = asyncio.Lock()  # triggered messages go out one after the other
        self._triggers_owed: set[tuple[str, int | None]] = set()  # triggered, not yet being sent
        self._link_task: asyncio.Task[None] | None = None
        self._aligned_task: asyncio.Task[None] | None = None
        self.config.on_change(self._config_changed)
        # Subscribe now, before the station starts: it reports sessions cut by a power loss at start-up.
        self.station.set_authorizer(self.authorizer, auto_start=self.station_settings.free_charging)
        self._unsubscribe: Callable[[], None] | None = self.station.subscribe(self._on_event)
        self.signed = SignedValues16(self, signed_metering) if signed_metering is not None else None
        self.pricing = CaliforniaPricing16(self, display) if display is not None else None
        if signed_metering is not None and self.pricing is not None:
            signed_metering.tariff_text = self._tariff_text
        self.firmware_management = FirmwareManagement(self, state_dir)
        self.security = SecurityExtensions(self, self._db, state_dir)
        control.register("ocpp", self._control)
        station.add_status_section("ocpp", self.status)
        station.add_connector_status_field("transaction", self.transaction_status)

    def _offered_profiles(self, smart_keys: set[str]) -> frozenset[str]:
        """The feature profiles SupportedFeatureProfiles offers; the keys of the others are hidden (their
        messages are answered NotSupported by the charge point)."""
        offered = frozenset(self.config.get_list("SupportedFeatureProfiles"))
        missing = sorted(offered - self.available_profiles)
        if missing or "Core" not in offered:
            raise ValueError(
                "ocpp.configuration.SupportedFeatureProfiles: must include Core and may only name profiles "
                f"this charger has ({', '.join(sorted(self.available_profiles))})"
                + (f"; not available: {', '.join(missing)}" if missing else ""))
        hidden: dict[str, tuple[str, ...]] = {**PROFILE_KEYS, "SmartCharging": tuple(smart_keys)}
        for profile, names in hidden.items():
            if profile not in offered:
                for name in names:
                    # A switched-off local list is never consulted; a switched-off reservation never made.
                    self.config.hide(name, "false" if self.config.keys[name].kind == "bool" else None)
        # Without an installer FirmwareManagement is not offered, yet GetDiagnostics is still answered,
        # unless the installer named the profiles explicitly.
        explicit = "SupportedFeatureProfiles" in self.settings.configuration
        self.switched_off = frozenset(p for p in self.available_profiles | {"FirmwareManagement"}
                                      if p not in offered and (explicit or p in self.available_profiles))
        if offered != self.available_profiles:
            log.info("OCPP feature profiles offered: %s", ", ".join(sorted(offered)))
        return offered

    # ---- extension points ---------------------------------------------------------------------------
    def register_handler(self, action: str, on_handler: Callable[..., Any],
                         after_handler: Callable[..., Any] | None = None) -> None:
        """Let another module (firmware update, diagnostics, smart charging) answer a CSMS action."""
        self.extra_routes[action] = (on_handler, after_handler)

    def register_data_transfer(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self.data_transfer_handlers.setdefault(vendor_id, {})[message_id] = handler

    def _dt_status(self, data: str | None) -> tuple[str, str | None]:
        return "Accepted", json.dumps(self.station.snapshot(), default=str)

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._reconcile_sessions()
        self.security.forward()  # events recorded before we listened (e.g. StartupOfTheDevice)
        self._link_task = asyncio.create_task(self.link.run(), name="ocpp-link")
        self._aligned_task = asyncio.create_task(self._aligned_loop(), name="ocpp-aligned")
        if self.pricing is not None:
            self.pricing.start()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.pricing is not None:
            self.pricing.stop()
            self._unsubscribe = None
        if not self._idle.is_set():
            # Let an outbox message in flight get its answer recorded, so it is not sent again after restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), min(self.settings.response_timeout_s, STOP_GRACE_S))
        tasks = [t for t in (self._link_task, self._aligned_task) if t is not None]
        tasks += list(self._samplers.values()) + list(self._tasks)
        for task in tasks:
            task.cancel()
        await self.link.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.security.close()
        if self._owns_security_log:
            self.security_log.close()
        self._db.close()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[None]:
        """Run a coroutine as a task the adapter owns (cancelled on stop; failures logged)."""
        task = asyncio.create_task(self._guarded(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, coro: Awaitable[Any], name: str) -> None:
        try:
            await coro
        except (asyncio.CancelledError, ConnectionError, ConnectionClosed):
            pass
        except Exception:
            log.exception("OCPP task %s failed", name)

    # ---- status and control -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "connected": self.link.connected, "state": self.link.state, "enabled": self.link.enabled,
            "url": _without_credentials(self.settings.endpoint), "registration": self.registration,
            "last_error": self.link.last_error, "queue_depth": self.outbox.depth(),
            "transaction_queue_depth": self.outbox.durable_depth(),
            "local_list_version": self.authorizer.list_version,
            "local_list_size": self.authorizer.list_size(), "auth_cache_size": self.authorizer.cache_size(),
            "connections": self.link.connections,
        }

    def transaction_status(self, connector_id: int) -> dict[str, Any] | None:
        session = self.station.session_of(connector_id)
        if session is None:
            return None
        tx = self.outbox.transaction(str(session["id"]))
        return {"id": None if tx is None else tx["transaction_id"], "id_tag": session.get("id_tag"),
                "started_at": session.get("started_at"),
                "meter_start": None if tx is None else tx["meter_start"]}

    async def _control(self, args: dict[str, Any]) -> dict[str, Any]:
        action = args.get("action")
        if action == "disconnect":
            closed = self._session_closed
            connected = self.cp is not None
            await self.link.disable()
            if connected:
                await self._wait_briefly(closed)
        elif action == "connect":
            self.link.enable()
            await self._wait_briefly(self._online)
        else:
            raise ControlError(f"unknown ocpp action {action!r}; known: connect, disconnect")
        return self.status()

    # ---- one connection -----------------------------------------------------------------------------
    async def _wait_briefly(self, event: asyncio.Event) -> None:
        """Let a control command report the outcome when it comes quickly (else the reply says so)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), CONTROL_WAIT_S)

    async def _session(self, ws: ClientConnection) -> None:
        cp = ChargePoint16(self, ws, response_timeout=self.settings.response_timeout_s)
        self.cp = cp
        self._session_closed = asyncio.Event()
        reader = asyncio.create_task(cp.start(), name="ocpp-reader")
        runner = asyncio.create_task(self._run_registered(), name="ocpp-session")
        try:
            await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
            failure = runner.exception() if runner.done() and not runner.cancelled() else None
            if failure is not None and not isinstance(failure, ConnectionError | ConnectionClosed):
                raise failure
        finally:
            self._online.clear()
            self._session_closed.set()
            self.cp = None
            for task in (reader, runner):
                task.cancel()
            for task in (reader, runner):
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                    await task

    async def _call(self, payload: Any, unique_id: str | None = None) -> Any:
        """Send one CALL on the current connection; ConnectionError if there is none or it drops."""
        cp, closed = self.cp, self._session_closed
        if cp is None:
            raise ConnectionError("not connected")
        request = asyncio.ensure_future(cp.call(payload, suppress=False, unique_id=unique_id))
        watcher = asyncio.ensure_future(closed.wait())
        try:
            await asyncio.wait({request, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not request.done():
                request.cancel()
            # However the CALL ends (answer, error, cancelled), nobody else will look at it.
            request.add_done_callback(_retrieve_outcome)
        # A request cancelled just above is not done yet (the task sees its cancellation only when it
        # runs next): asking it for its exception then would raise InvalidStateError.
        if not request.done() or request.cancelled():
            raise ConnectionError("connection lost while waiting for the answer")
        exc = request.exception()
        if isinstance(exc, ConnectionClosed):
            raise ConnectionError("connection lost") from exc
        return request.result()

    async def _run_registered(self) -> None:
        first = not self._boot_accepted
        if first:
            await self._register()
        self._online.set()
        if first:
            for hook in self.after_registration:
                self.spawn(hook(), name="ocpp-after-registration")
        self._queue_all_status()
        # Two lanes share the connection (one CALL at a time): transaction messages strictly in order, and
        # status / live meter values, which never wait behind a transaction backlog or retry.
        await asyncio.gather(self._heartbeat_loop(), self._deliver_loop(True), self._deliver_loop(False))

    def _boot_payload(self) -> Any:
        st = self.station_settings
        return call.BootNotification(charge_point_vendor=st.vendor, charge_point_model=st.model,
                                     charge_point_serial_number=st.serial_number,
                                     charge_box_serial_number=st.serial_number,
                                     firmware_version=self.firmware_version()[:50])

    async def _register(self) -> None:
        """BootNotification until Accepted; nothing else is sent meanwhile (CSMS calls are answered)."""
        while True:
            retry = BOOT_RETRY_DEFAULT_S
            try:
                conf = await self._call(self._boot_payload())
            except (OCPPError, TimeoutError) as exc:
                log.warning("BootNotification failed: %s", exc)
            else:
                self._apply_boot(conf)
                if conf.status == "Accepted":
                    return
                retry = float(conf.interval) or BOOT_RETRY_DEFAULT_S
            self._boot_now.clear()
            await self._pause(retry, self._boot_now)

    def _apply_boot(self, conf: Any) -> None:
        self.registration = str(conf.status)
        self._set_clock(conf.current_time)
        if conf.status == "Accepted":
            self._boot_accepted = True
            if conf.interval > 0:
                self.config.change("HeartbeatInterval", str(conf.interval))

    def _set_clock(self, text: str) -> None:
        when = parse_ocpp_time(text)
        if when is not None and when.tzinfo is not None:
            before = self.clock.now()
            self.clock.set_now(when)
            if abs((when - before).total_seconds()) >= CLOCK_EVENT_MIN_S:
                self.security_log.record(SecurityEventType.SETTING_SYSTEM_TIME,
                                         f"from {rfc3339(before)} to {rfc3339(when)} (CSMS time)")

    async def _pause(self, seconds: float, wake: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.config.get_int("HeartbeatInterval")
            await self._pause(interval if interval > 0 else 86400.0, self._heartbeat_changed)
            if self._heartbeat_changed.is_set() or interval <= 0:
                continue
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        try:
            conf = await self._call(call.Heartbeat())
        except (OCPPError, TimeoutError) as exc:
            log.warning("Heartbeat failed: %s", exc)
            return
        self._set_clock(conf.current_time)

    # ---- outbox delivery ----------------------------------------------------------------------------
    def _wake_outbox(self) -> None:
        self._outbox_changed.set()

    def wake_outbox(self) -> None:
        """Deliver rows another module queued in the outbox."""
        self._outbox_changed.set()

    async def _deliver_loop(self, durable: bool) -> None:
        while True:
            row = self.outbox.head(durable)
            if row is None:
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
                continue
            await self._deliver(row)
            if durable:
                self._wake_outbox()  # a StartTransaction that went (or was given up) may free statuses

    async def _deliver(self, row: Row) -> None:
        payload = dict(row.payload)
        if row.kind in (Kind.CLOSES, Kind.IN_SESSION) and row.session_id is not None:
            transaction_id = self.outbox.transaction_id(row.session_id)
            if transaction_id is None:
                log.error("dropping %s of session %s: its StartTransaction was never confirmed",
                          row.action, row.session_id)
                self.outbox.dropped(row)
                return
            payload["transaction_id"] = transaction_id
        if row.durable:
            self._idle.clear()
        try:
            conf = await self._call(getattr(call, row.action)(**payload), unique_id=self._queued_id(row))
        except (OCPPError, TimeoutError) as exc:
            self._idle.set()
            attempts = self.config.get_int("TransactionMessageAttempts")
            if row.session_id is None and isinstance(exc, OCPPError) and exc.code in UNSUPPORTED:
                attempts = 1  # e.g. a CSMS without the security extensions: asking again will not help
            if self.outbox.failed(row, attempts):
                log.error("gave up %s #%d after %d attempt(s): %s", row.action, row.seq, row.attempts + 1,
                          exc)
                return
            log.warning("%s #%d failed (%s); retrying", row.action, row.seq, exc)
            interval = self.config.get_int("TransactionMessageRetryInterval") * (row.attempts + 1)
            await self.clock.sleep(interval)
            return
        finally:
            self._idle.set()  # set without yielding: the outcome below is recorded before stop() resumes
        if row.kind is Kind.OPENS:
            self.outbox.delivered(row, transaction_id=int(conf.transaction_id))
            self._started_confirmed(row, conf)
        else:
            self.outbox.delivered(row)
            if row.kind is Kind.CLOSES and conf.id_tag_info and row.payload.get("id_tag"):
                self.authorizer.remember(row.payload["id_tag"], conf.id_tag_info)

    def _queued_id(self, row: Row) -> str:
        """The CALL's unique id: `q<seq>`, so a CSMS recognises a retransmission after a reconnect; a retry
        on the same connection gets a new one (OCPP-J 1.6 §4.1.4: never reuse an id on a connection)."""
        cp = self.cp
        unique_id = f"q{row.seq}"
        if cp is not None:
            if unique_id in cp.used_ids:
                unique_id = f"q{row.seq}.{row.attempts}"
            cp.used_ids.add(unique_id)
        return unique_id

    def _started_confirmed(self, row: Row, conf: Any) -> None:
        info = conf.id_tag_info or {}
        id_tag = row.payload.get("id_tag")
        if id_tag:
            self.authorizer.remember(id_tag, info)
        if info.get("status") == "Accepted" or row.session_id is None:
            return
        connector_id = int(row.payload["connector_id"])
        session = self.station.session_of(connector_id)
        if session is None or str(session["id"]) != row.session_id:
            return
        log.warning("CSMS refused id tag of transaction %s (%s)", conf.transaction_id, info.get("status"))
        if self.config.get_bool("StopTransactionOnInvalidId"):
            self.station.stop_session(connector_id, StopReason.DEAUTHORIZED)
        else:
            self.station.set_limit(LimitSource.AUTHORIZATION, 0.0, connector_id)

    # ---- core events --------------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, MeterSampled):
            self._latest[event.connector_id] = (event.reading, event.timestamp)
        elif isinstance(event, OfferChanged):
            self._offered[event.connector_id] = event.offered_a
        elif isinstance(event, StatusChanged):
            if not self._changes.visible(event):
                return
            self._status_changed(notification(event))
            if event.connector_id != 0:
                # The core reports connectors only; connector 0 (the whole station) follows from them.
                station = self._station_status(event.timestamp)
                previous = self._status.get(0)
                if previous is None or (previous.status, previous.error_code) != (station.status,
                                                                                  station.error_code):
                    self._status_changed(station)
        elif isinstance(event, SessionStarted):
            self.release_remote_start_claim(event.connector_id)
            self._session_started(event)
        elif isinstance(event, SessionStopped):
            self._session_stopped(event)

    def _status_payload(self, event: Notification) -> dict[str, Any]:
        payload: dict[str, Any] = {"connector_id": event.connector_id,
                                   "status": event.status.value,
                                   "error_code": event.error_code.value,
                                   "timestamp": rfc3339(event.timestamp)}
        if event.vendor_error_code:
            payload["vendor_error_code"] = event.vendor_error_code[:50]
        if event.info:
            payload["info"] = event.info[:50]
        return payload

    def _status_changed(self, event: Notification) -> None:
        self._status[event.connector_id] = event
        if self._online.is_set():
            self.outbox.push_status(event.connector_id, STATUS_NOTIFICATION, self._status_payload(event))
            self._wake_outbox()

    def _station_status(self, when: datetime) -> Notification:
        """Connector 0: Unavailable when every connector is, Faulted when all share one fault, else
        Available (OCPP 1.6 §4.9: connector 0 reports the Charge Point as a whole)."""
        each = [self._current_status(c) for c in self.station.connector_ids]
        no_error = ChargePointErrorCode.no_error
        if each and all(e.status == ChargePointStatus.unavailable for e in each):
            return Notification(0, ChargePointStatus.unavailable, no_error, None, None, when)
        first = each[0] if each else None
        if first is not None and first.status == ChargePointStatus.faulted and all(
                e.status == ChargePointStatus.faulted and e.error_code == first.error_code
                and e.vendor_error_code == first.vendor_error_code for e in each):
            return Notification(0, ChargePointStatus.faulted, first.error_code, first.vendor_error_code,
                                first.info, when)
        return Notification(0, ChargePointStatus.available, no_error, None, None, when)

    def _current_status(self, connector_id: int) -> Notification:
        known = self._status.get(connector_id)
        if known is not None:
            return known
        if connector_id == 0:
            return self._station_status(self.clock.now())
        status = STATUS[self.station.state_of(connector_id)]
        error = ChargePointErrorCode.other_error if status == ChargePointStatus.faulted \
            else ChargePointErrorCode.no_error
        return Notification(connector_id, status, error, None, None, self.clock.now())

    def _queue_all_status(self) -> None:
        for connector_id in [0, *self.station.connector_ids]:
            current = self._current_status(connector_id)
            self._status.setdefault(connector_id, current)
            self.outbox.push_status(connector_id, STATUS_NOTIFICATION, self._status_payload(current))
        self._wake_outbox()

    def _id_tag(self, id_tag: str | None) -> str:
        return (id_tag or self.settings.free_charging_id_tag)[:20]

    def _reading(self, connector_id: int, energy_wh: float) -> MeterReading:
        latest = self._latest.get(connector_id)
        if latest is None:
            return MeterReading(energy_import_wh=energy_wh)
        reading = latest[0]
        return MeterReading(energy_wh, reading.voltage_v, reading.current_a, reading.power_w,
                            reading.frequency_hz, reading.power_total_w)

    @property
    def online(self) -> bool:
        """Connected and registration accepted."""
        return self._online.is_set()

    def latest_reading(self, connector_id: int) -> MeterReading | None:
        latest = self._latest.get(connector_id)
        return None if latest is None else latest[0]

    def meter_value_now(self, connector_id: int, reading: MeterReading,
                        context: str) -> dict[str, Any] | None:
        return self._meter_value(connector_id, self.clock.now(), reading, "MeterValuesSampledData", context)

    async def _tariff_text(self, connector_id: int, id_tag: str | None) -> str | None:
        """The price text a signing meter signs (TT): the driver's own, waited for as configured."""
        assert self.pricing is not None
        return await self.pricing.tariff_text(id_tag)

    def _session_started(self, event: SessionStarted) -> None:
        pricing = self.pricing
        if pricing is not None and pricing.delay_start(event.id_tag, lambda: self._start_transaction(event)):
            return
        self._start_transaction(event)

    def _start_transaction(self, event: SessionStarted) -> None:
        payload: dict[str, Any] = {"connector_id": event.connector_id, "id_tag": self._id_tag(event.id_tag),
                                   "meter_start": round(event.meter_start_wh),
                                   "timestamp": rfc3339(event.timestamp)}
        if event.reservation_id is not None:
            payload["reservation_id"] = event.reservation_id
        if not self.outbox.begin(event.session_id, event.connector_id, event.id_tag, payload["timestamp"],
                                 payload["meter_start"], START_TRANSACTION, payload):
            return
        self._tx_sample(event.session_id, event.connector_id, event.timestamp, "Transaction.Begin",
                        self._reading(event.connector_id, event.meter_start_wh), "StopTxnSampledData")
        self._start_sampler(event.session_id, event.connector_id)
        if self.signed is not None:
            self.signed.started(event.session_id)
        self._wake_outbox()

    def _session_stopped(self, event: SessionStopped) -> None:
        sampler = self._samplers.pop(event.session_id, None)
        if sampler is not None:
            sampler.cancel()
        stop_ts = rfc3339(event.timestamp)
        if not self.outbox.knows(event.session_id):
            # The core started this session while we were not listening (e.g. killed right after).
            log.warning("session %s stopped but its start was never seen; reporting both", event.session_id)
            meter_start = round(event.meter_start_wh if event.meter_start_wh is not None
                                else event.meter_stop_wh)
            start_ts = rfc3339(event.started_at) if event.started_at is not None else stop_ts
            start = {"connector_id": event.connector_id, "id_tag": self._id_tag(event.start_id_tag),
                     "meter_start": meter_start, "timestamp": start_ts}
            self.outbox.begin(event.session_id, event.connector_id, event.start_id_tag, start_ts,
                              meter_start, START_TRANSACTION, start)
        meter_stop_wh = event.meter_stop_wh
        if event.reason is StopReason.POWER_LOSS:
            # The journal's last value may be older than meter values already queued for the CSMS: never
            # report a meterStop below them.
            meter_stop_wh = self._sampled_energy(event.session_id, meter_stop_wh)[0]
        self._tx_sample(event.session_id, event.connector_id, event.timestamp, "Transaction.End",
                        self._reading(event.connector_id, meter_stop_wh), "StopTxnSampledData")

        def queue() -> None:
            self._queue_stop(event.session_id, meter_stop_wh, stop_ts, REASON[event.reason].value,
                             event.id_tag)

        signed = self.signed
        if signed is None or not signed.stop_after_signing(event.session_id, event.connector_id, queue):
            queue()

    def _queue_stop(self, session_id: str, meter_stop_wh: float, timestamp: str, reason: str,
                    id_tag: str | None) -> None:
        payload: dict[str, Any] = {"meter_stop": round(meter_stop_wh), "timestamp": timestamp,
                                   "reason": reason}
        if id_tag:
            payload["id_tag"] = id_tag[:20]
        data = self.outbox.tx_data(session_id)
        if data:
            payload["transaction_data"] = data
        if self.outbox.end(session_id, STOP_TRANSACTION, payload):
            self._wake_outbox()

    def _meter_value(self, connector_id: int, when: datetime, reading: MeterReading, key: str,
                     context: str) -> dict[str, Any] | None:
        """One MeterValue with the measurands configured under `key` (None if none can be given)."""
        measurands = self.config.get_list(key)
        temperature = self._temperature(connector_id) if "Temperature" in measurands else None
        return meter_value(when, reading, measurands, context, self._offered.get(connector_id), temperature)

    def _temperature(self, connector_id: int) -> float | None:
        """The connector's temperature sensor, as the core reports it in the status document."""
        for connector in self.station.snapshot().get("connectors", []):
            if connector.get("id") == connector_id and connector.get("temperature_c") is not None:
                return float(connector["temperature_c"])
        return None

    def _tx_sample(self, session_id: str, connector_id: int, when: datetime, context: str,
                   reading: MeterReading, key: str) -> None:
        value = self._meter_value(connector_id, when, reading, key, context)
        if value is not None:
            self.outbox.add_tx_data(session_id, value)

    def _reconcile_sessions(self) -> None:
        """At start: end sessions the core no longer runs; resume meter sampling for those it still runs."""
        running = {}
        for connector_id in self.station.connector_ids:
            session = self.station.session_of(connector_id)
            if session is not None:
                running[str(session["id"])] = connector_id
        for session_id in self.outbox.open_sessions():
            tx = self.outbox.transaction(session_id)
            if tx is None:
                continue
            if session_id in running:
                self._start_sampler(session_id, running[session_id])
                continue
            # The core reports an interrupted session as SessionStopped(PowerLoss); if it did so before we
            # subscribed, end it here with the last value we persisted. A later report is deduplicated.
            energy, when = self._sampled_energy(session_id, float(tx["meter_start"]))

            def queue(session_id: str = session_id, energy: float = energy,
                      when: datetime | None = when) -> None:
                self._queue_stop(session_id, energy, rfc3339(when or self.clock.now()),
                                 REASON[StopReason.POWER_LOSS].value, None)

            # On a signing meter the stop waits for the signed end (docs/signed-metering.md).
            if self.signed is None or not self.signed.stop_after_signing(session_id, int(tx["connector_id"]),
                                                                         queue):
                queue()

    def _sampled_energy(self, session_id: str, floor_wh: float) -> tuple[float, datetime | None]:
        """The highest energy register among the session's persisted samples (at least `floor_wh`), and
        the time of the last of them."""
        energy, when = floor_wh, None
        for value in self.outbox.tx_data(session_id):
            for sampled in value["sampled_value"]:
                if sampled["measurand"] == "Energy.Active.Import.Register" \
                        and sampled.get("format") != "SignedData":
                    energy = max(energy, float(sampled["value"]))
                    when = parse_ocpp_time(value["timestamp"]) or when
        return energy, when

    # ---- meter values -------------------------------------------------------------------------------
    def _start_sampler(self, session_id: str, connector_id: int) -> None:
        if session_id not in self._samplers:
            self._samplers[session_id] = asyncio.create_task(self._sample_loop(session_id, connector_id),
                                                             name=f"ocpp-sampler-{connector_id}")

    async def _sample_loop(self, session_id: str, connector_id: int) -> None:
        while True:
            interval = self.config.get_int("MeterValueSampleInterval")
            await self.clock.sleep(interval if interval > 0 else 60.0)
            latest = self._latest.get(connector_id)
            if interval <= 0 or latest is None:
                continue
            now = self.clock.now()
            value = self._meter_value(connector_id, now, latest[0], "MeterValuesSampledData",
                                      "Sample.Periodic")
            if value is not None:
                self.outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                 session_id=session_id)
                self._wake_outbox()
            self._tx_sample(session_id, connector_id, now, "Sample.Periodic", latest[0], "StopTxnSampledData")

    def _session_id(self, connector_id: int) -> str | None:
        session = self.station.session_of(connector_id)
        return None if session is None else str(session["id"])

    async def _aligned_loop(self) -> None:
        """Clock-aligned meter values, aligned to midnight UTC (OCPP 1.6 §9.1 ClockAlignedDataInterval)."""
        while True:
            self._aligned_changed.clear()
            interval = self.config.get_int("ClockAlignedDataInterval")
            if interval <= 0:
                await self._aligned_changed.wait()
                continue
            now = self.clock.now()
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            elapsed = (now - midnight).total_seconds()
            wait = interval - (elapsed % interval)
            await self._pause(wait, self._aligned_changed)
            if self._aligned_changed.is_set():
                continue
            self._send_aligned(self.clock.now())
            await self.clock.sleep(0.001)  # step past the boundary

    def _send_aligned(self, now: datetime) -> None:
        for connector_id in self.station.connector_ids:
            latest = self._latest.get(connector_id)
            if latest is None:
                continue
            session_id = self._session_id(connector_id)
            value = self._meter_value(connector_id, now, latest[0], "MeterValuesAlignedData", "Sample.Clock")
            if session_id is not None and self.outbox.knows(session_id):
                if value is not None:
                    self.outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                     session_id=session_id)
                self._tx_sample(session_id, connector_id, now, "Sample.Clock", latest[0],
                                "StopTxnAlignedData")
            elif value is not None and self._online.is_set():
                self.outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                 durable=False)
        self._wake_outbox()

    def _config_changed(self, key: str, value: str) -> None:
        if key == "AuthorizationKey":
            remember_secret(value, self.settings.charge_point_id)
        elif key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif key == "ClockAlignedDataInterval":
            self._aligned_changed.set()
        elif key == "ConnectionTimeOut":
            self.station.set_connection_timeout(int(value))

    # ---- CSMS-initiated actions (run after the answer was sent) -------------------------------------
    def accept_remote_start_profile(self, connector_id: int | None, profile: dict[str, Any]) -> bool:
        """A chargingProfile in RemoteStartTransaction is only accepted if smart charging is present."""
        if self.smart_charging is None or "SmartCharging" not in self.profiles:
            return False
        return self.smart_charging.accept_remote_start_profile(
            connector_id, profile, wait_s=self.config.get_int("ConnectionTimeOut"))

    def active_transaction_id(self, connector_id: int) -> int | None:
        """The OCPP transactionId of the session running on a connector (None if none or not yet known)."""
        session_id = self._session_id(connector_id)
        return None if session_id is None else self.outbox.transaction_id(session_id)

    async def call_online(self, payload: Any) -> Any:
        """Send one CALL now; ConnectionError when not registered with the CSMS."""
        if not self._online.is_set():
            raise ConnectionError("not connected to the CSMS")
        return await self._call(payload)

    async def notify_firmware_status(self, status: str) -> None:
        """FirmwareStatusNotification now; ConnectionError when not registered with the CSMS."""
        await self.call_online(call.FirmwareStatusNotification(status=status))

    async def notify_signed_firmware_status(self, status: str, request_id: int) -> None:
        """SignedFirmwareStatusNotification (security whitepaper); ConnectionError when not registered."""
        if not self._online.is_set():
            raise ConnectionError("not connected to the CSMS")
        await self._call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id))

    async def notify_diagnostics_status(self, status: str) -> None:
        await self.call_online(call.DiagnosticsStatusNotification(status=status))

    def claim_connector_for_remote_start(self, connector_id: int | None) -> int | None:
        """RemoteStartTransaction: the connector that will take it (the one asked for, else a plugged car
        waiting, else a free one), claimed until its session starts or the connection timeout passes.
        None (Rejected) when no connector can take it."""
        now = self.clock.monotonic()
        self._remote_claims = {c: until for c, until in self._remote_claims.items() if until > now}
        candidates = [connector_id] if connector_id is not None else sorted(
            self.station.connector_ids, key=lambda c: self.station.state_of(c) != ConnectorState.PREPARING)
        for candidate in candidates:
            if candidate in self._remote_claims or self.station.session_of(candidate) is not None:
                continue
            if self.station.state_of(candidate) in (ConnectorState.UNAVAILABLE, ConnectorState.FAULTED):
                continue
            self._remote_claims[candidate] = now + self.config.get_int("ConnectionTimeOut")
            return candidate
        return None

    def release_remote_start_claim(self, connector_id: int) -> None:
        self._remote_claims.pop(connector_id, None)

    async def run_remote_start(self, id_tag: str, connector_id: int) -> None:
        try:
            started = await self.station.remote_start(
                id_tag, connector_id, authorize=self.config.get_bool("AuthorizeRemoteTxRequests"))
        except Exception:
            log.exception("remote start failed")
            started = False
        if not started:
            self.release_remote_start_claim(connector_id)

    def connector_of_transaction(self, transaction_id: int) -> int | None:
        session_id = self.outbox.session_for_transaction(transaction_id)
        if session_id is None:
            return None
        for connector_id in self.station.connector_ids:
            if self._session_id(connector_id) == session_id:
                return connector_id
        return None

    async def reset(self, hard: bool) -> None:
        """Stop every session with SoftReset/HardReset, let a soft reset deliver them, then restart."""
        try:
            reason = StopReason.HARD_RESET if hard else StopReason.SOFT_RESET
            ending = []
            for connector_id in self.station.connector_ids:
                session_id = self._session_id(connector_id)
                if session_id is not None:
                    ending.append(session_id)
                    self.station.stop_session(connector_id, reason)
            # Both kinds wait for the core to report the sessions ended (so they are not reported as
            # PowerLoss after the restart); a soft reset also waits for the StopTransactions to be delivered.
            waited = 0.0
            while waited < RESET_SETTLE_MAX_S and (
                    any(not (self.outbox.transaction(s) or {}).get("stop_queued", 1) for s in ending)
                    or (not hard and self._online.is_set() and self.outbox.durable_depth() > 0)):
                await self.clock.sleep(0.5)
                waited += 0.5
        except Exception:
            log.exception("reset preparation failed; restarting anyway")
        log.warning("%s reset requested by the CSMS: restarting", "hard" if hard else "soft")
        self.security_log.record(SecurityEventType.RESET_OR_REBOOT,
                                 f"{'Hard' if hard else 'Soft'} Reset by the CSMS")
        self._restart(hard)

    def restart_now(self) -> None:
        """Restart the service (e.g. to activate installed firmware); sessions must have ended."""
        self._restart(False)

    async def send_triggered(self, message: str, connector_id: int | None) -> None:
        """Send a message the CSMS triggered. A trigger for a message that is already owed (triggered and
        not yet being sent) is covered by that one, so a trigger flood never piles up messages."""
        owed = (message, connector_id)
        if owed in self._triggers_owed:
            return
        self._triggers_owed.add(owed)
        try:
            await self._trigger_turn.acquire()
        except BaseException:
            self._triggers_owed.discard(owed)
            raise
        self._triggers_owed.discard(owed)  # from now on a new trigger owes a new message
        try:
            await self._send_triggered(message, connector_id)
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("triggered %s failed: %s", message, exc)
        finally:
            self._trigger_turn.release()

    async def _send_triggered(self, message: str, connector_id: int | None) -> None:
        if (sender := self.trigger_senders.get(message)) is not None:
            await sender(connector_id)
        elif message == "BootNotification":
            if not self._boot_accepted:
                self._boot_now.set()
                return
            self._apply_boot(await self._call(self._boot_payload()))
        elif message == "Heartbeat":
            await self._heartbeat()
        elif message == "StatusNotification":
            targets = [connector_id] if connector_id is not None else [0, *self.station.connector_ids]
            for target in targets:
                payload = self._status_payload(self._current_status(target))
                await self._call(call.StatusNotification(**payload))
        elif message == "MeterValues":
            targets = [connector_id] if connector_id else self.station.connector_ids
            for target in targets:
                await self._send_trigger_meter(target)
        elif message == "DiagnosticsStatusNotification":
            await self._call(call.DiagnosticsStatusNotification(status=self.diagnostics_status()))

    async def _send_trigger_meter(self, connector_id: int) -> None:
        latest = self._latest.get(connector_id)
        reading = latest[0] if latest is not None else MeterReading(
            energy_import_wh=await self.station.latest_meter_wh(connector_id))
        value = self._meter_value(connector_id, self.clock.now(), reading, "MeterValuesSampledData",
                                  "Trigger")
        if value is None:
            return
        session_id = self._session_id(connector_id)
        transaction_id = None if session_id is None else self.outbox.transaction_id(session_id)
        await self._call(call.MeterValues(connector_id=connector_id, meter_value=[value],
                                          transaction_id=transaction_id))

    async def _online_authorize(self, id_tag: str) -> dict[str, Any] | None:
        try:
            conf = await self._call(call.Authorize(id_tag=id_tag))
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("Authorize failed, deciding offline: %s", exc)
            return None
        info: dict[str, Any] = conf.id_tag_info
        return info


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
