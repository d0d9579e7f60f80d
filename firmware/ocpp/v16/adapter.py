"""The OCPP 1.6J adapter: builds the 1.6 runtime from its pieces and runs it.

Each piece has one job and gets the small objects it works with (firmware/ocpp/v16/services.py), never
this adapter: the CALL channel (`calls`), registration and heartbeat (`registration`), outbox delivery
(`delivery`), status notifications (`statuses`), meter values (`sampling`), transactions
(`transactions`), remote start and reset (`remote`), triggered messages (`triggers`), the charge point's
handlers (`charge_point`) and the feature modules (firmware management, security extensions, signed
meter values, California pricing). Here: the composition, core events routed to the pieces, the
lifecycle, and the `ocpp` status section and control command.

One OCPP session runs per websocket connection; everything that must survive it (queued transaction
messages, configuration, local list) lives in SQLite under `<state_dir>/ocpp.sqlite3`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection

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
from firmware.display.service import DisplayService
from firmware.metering.signed import SignedMetering
from firmware.ocpp.common.connection import OcppLink
from firmware.ocpp.common.data_transfer import DataTransferHandler
from firmware.ocpp.common.keystore import ConfigurationStore, KeySpec
from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.rate_limit import CallRateLimit
from firmware.ocpp.common.runtime import RestartHook
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.v16.auth import LocalAuthorizer
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.charge_point import ChargePoint16, ChargePointParts
from firmware.ocpp.v16.configuration import cost_keys, signed_keys, standard_keys
from firmware.ocpp.v16.cost_messages import CaliforniaPricing16
from firmware.ocpp.v16.delivery import Delivery16
from firmware.ocpp.v16.extensions import Extensions16
from firmware.ocpp.v16.firmware_management import FirmwareManagement
from firmware.ocpp.v16.profiles import available_profiles, offered_profiles
from firmware.ocpp.v16.registration import Identity16, Registration16
from firmware.ocpp.v16.remote import RemoteControl16, SmartChargingPort
from firmware.ocpp.v16.sampling import MeterSampling16
from firmware.ocpp.v16.security import SecurityExtensions
from firmware.ocpp.v16.services import Services16
from firmware.ocpp.v16.signed_values import SignedValues16
from firmware.ocpp.v16.statuses import StatusReports16
from firmware.ocpp.v16.transactions import Transactions16
from firmware.ocpp.v16.triggers import Triggers16
from firmware.redaction import remember_secret, url_without_credentials
from firmware.security.certificates import open_store
from firmware.security.events import SecurityLog, open_security_log
from firmware.settings import Settings
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir
from hal.clock import Clock

log = logging.getLogger(__name__)

RESET_EXIT_CODE = 75  # = firmware.app.EXIT_RESTART; systemd (Restart=always) brings the service back
STOP_GRACE_S = 5.0  # real seconds stop() waits for the answer to an outbox message in flight
CONTROL_WAIT_S = 3.0  # real seconds `chargepi ocpp connect|disconnect` waits to report the outcome


def _default_restart(hard: bool) -> None:
    raise SystemExit(RESET_EXIT_CODE)


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
        # The library logs every frame at INFO: keep that off flash storage unless asked for.
        logging.getLogger("ocpp").setLevel(logging.INFO if self.settings.log_frames else logging.WARNING)
        self.station = station
        self.clock = clock
        self.smart_charging = smart_charging
        state = storage if storage is not None and storage.path == state_dir else StateDir(state_dir)
        # Essential (queued transaction messages); private: holds idTags and the Basic auth password.
        self._db = StateDatabase(state, "ocpp.sqlite3", essential=True, synchronous="FULL", private=True,
                                 setup=None)
        profiles = available_profiles(smart_charging is not None, self.settings.firmware.enabled)
        self.config = self._configuration(settings, profiles, smart_charging, signed_metering, display)
        self.available_profiles = frozenset(profiles.split(","))
        smart_keys = set(smart_charging.configuration_keys()) if smart_charging is not None else set()
        explicit = "SupportedFeatureProfiles" in self.settings.configuration
        self.profiles, self.switched_off = offered_profiles(self.config, self.available_profiles, smart_keys,
                                                            explicit)
        remember_secret(self.settings.authorization_key, self.settings.charge_point_id)
        remember_secret(self.config.get("AuthorizationKey"), self.settings.charge_point_id)
        station.set_connection_timeout(self.config.get_int("ConnectionTimeOut"))
        self.outbox = Outbox(self._db)
        self.certificates = open_store(state_dir, self.settings.firmware.trust_roots)
        self._owns_security_log = security_log is None
        self.security_log = security_log or open_security_log(state_dir, clock, state)
        self.link_security = LinkSecurity(self.settings, self._db, self.config, self.certificates,
                                          self.security_log)
        self.calls = Calls16()
        self._online = self.calls.online_event  # connected and registration accepted
        self.authorizer = LocalAuthorizer(self._db, self.config, clock, self._online_authorize,
                                          lambda: self.calls.online)
        self._db.salvage()  # the three stores made their tables: rebuild them from a quarantined file
        self.rate_limit = CallRateLimit(self.settings.rate_limit, clock.monotonic)
        self.link = OcppLink(self.settings, clock, self._session, lambda: self.config.get_int(
            "WebSocketPingInterval"), lambda: self.config.get("AuthorizationKey") or None, self.link_security)
        self.extensions = Extensions16(firmware_version=lambda: settings.station.firmware_version)
        self.extensions.register_data_transfer("chargepi", "Status", self._dt_status)
        self._tasks = OwnedTasks(log)
        self.delivery = Delivery16(self.outbox, self.calls, self.config, clock, self.authorizer, station)
        services = Services16(self.settings, station, clock, self.config, self.outbox, self.delivery.wake,
                              self.calls, self._tasks.spawn, self.extensions, self.security_log)
        self.registration_state = Registration16(
            self.calls, self.config, clock, self.security_log,
            Identity16(settings.station.vendor, settings.station.model, settings.station.serial_number),
            self.extensions)
        self.statuses = StatusReports16(station, clock, self.outbox, self.calls, self.delivery.wake)
        self.sampling = MeterSampling16(station, clock, self.config, self.outbox, self.calls,
                                        self.delivery.wake)
        self.transactions = Transactions16(station, clock, self.outbox, self.sampling, self.delivery.wake,
                                           self.settings.free_charging_id_tag)
        self.remote = RemoteControl16(station, clock, self.config, self.outbox, self.calls, self.transactions,
                                      self.security_log, restart or _default_restart, smart_charging,
                                      self.profiles)
        self.triggers = Triggers16(station, clock, self.calls, self.extensions, self.registration_state,
                                   self.statuses, self.sampling, self.transactions)
        self._link_task: asyncio.Task[None] | None = None
        self._aligned_task: asyncio.Task[None] | None = None
        self.config.on_change(self._config_changed)
        # Subscribe now, before the station starts: it reports sessions cut by a power loss at start-up.
        self.station.set_authorizer(self.authorizer, auto_start=settings.station.free_charging)
        self._unsubscribe: Callable[[], None] | None = self.station.subscribe(self._on_event)
        self.signed = SignedValues16(services, signed_metering) if signed_metering is not None else None
        self.pricing = CaliforniaPricing16(services, self.sampling, display) if display is not None else None
        self.transactions.signed, self.transactions.pricing = self.signed, self.pricing
        if signed_metering is not None and self.pricing is not None:
            signed_metering.tariff_text = self._tariff_text
        self.firmware_management = FirmwareManagement(services, state_dir, settings.station.firmware_version,
                                                      self.remote.restart_now)
        self.security = SecurityExtensions(services, self._db, self.certificates, self.link_security,
                                           self.firmware_management.make_uploader,
                                           self.triggers.send_triggered, settings.station.serial_number)
        self._parts = ChargePointParts(
            services, self.authorizer, self.rate_limit, self.security.invalid_messages, self.remote,
            self.transactions,
            self.triggers.send_triggered, lambda: self.registration_state.state, self.link.reconnect,
            smart_charging, self.switched_off)
        control.register("ocpp", self._control)
        station.add_status_section("ocpp", self.status)
        station.add_connector_status_field("transaction", self.transactions.transaction_status)

    def _configuration(self, settings: Settings, profiles: str, smart_charging: SmartChargingPort | None,
                       signed_metering: SignedMetering | None,
                       display: DisplayService | None) -> ConfigurationStore:
        """The 1.6 configuration keys this installation has, persisted in the adapter's database."""
        keys = standard_keys(len(self.station.connector_ids), profiles,
                             connection_timeout_s=round(settings.station.connection_timeout_s),
                             security_profile=self.settings.security_profile,
                             ping_interval_s=round(self.settings.ping_interval_s),
                             authorization_key=self.settings.authorization_key or "")
        smart_keys = smart_charging.configuration_keys() if smart_charging is not None else {}
        for name, value in smart_keys.items():
            keys[name] = KeySpec(name, "str", value, writable=False)
        if signed_metering is not None:
            keys.update(signed_keys(self.station.connector_ids))
        if display is not None:
            keys.update(cost_keys())
        return ConfigurationStore(self._db, keys, self.settings.configuration)

    # ---- extension points (firmware/ocpp/v16/extensions.py) -----------------------------------------
    def register_handler(self, action: str, on_handler: Callable[..., Any],
                         after_handler: Callable[..., Any] | None = None) -> None:
        """Let another module (firmware update, diagnostics, smart charging) answer a CSMS action."""
        self.extensions.register_handler(action, on_handler, after_handler)

    def register_data_transfer(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self.extensions.register_data_transfer(vendor_id, message_id, handler)

    @property
    def firmware_version(self) -> Callable[[], str]:
        """What BootNotification names as the running firmware."""
        return self.extensions.firmware_version

    @firmware_version.setter
    def firmware_version(self, version: Callable[[], str]) -> None:
        self.extensions.firmware_version = version

    @property
    def after_registration(self) -> list[Callable[[], Awaitable[Any]]]:
        """Work to run once the CSMS accepted us for the first time (e.g. report Installed)."""
        return self.extensions.after_registration

    def _dt_status(self, data: str | None) -> tuple[str, str | None]:
        return "Accepted", json.dumps(self.station.snapshot(), default=str)

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.transactions.reconcile()
        self.security.forward()  # events recorded before we listened (e.g. StartupOfTheDevice)
        self._link_task = asyncio.create_task(self.link.run(), name="ocpp-link")
        self._aligned_task = asyncio.create_task(self.sampling.aligned_loop(), name="ocpp-aligned")
        if self.pricing is not None:
            self.pricing.start()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.pricing is not None:
            self.pricing.stop()
            self._unsubscribe = None
        idle = self.delivery.idle
        if not idle.is_set():
            # Let an outbox message in flight get its answer recorded, so it is not sent again after restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), min(self.settings.response_timeout_s, STOP_GRACE_S))
        tasks = self.cancel_tasks()
        await self.link.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.security.close()
        if self._owns_security_log:
            self.security_log.close()
        self._db.close()

    def cancel_tasks(self) -> list[asyncio.Task[Any]]:
        """Cancel every task of the runtime (link, aligned values, samplers, spawned work) and forget them;
        the caller awaits them."""
        tasks: list[asyncio.Task[Any]] = [t for t in (self._link_task, self._aligned_task) if t is not None]
        tasks += list(self.sampling.samplers.values()) + self._tasks.take()
        self.sampling.samplers.clear()
        self._link_task = self._aligned_task = None
        for task in tasks:
            task.cancel()
        return tasks

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[None]:
        """Run a coroutine as a task the adapter owns (cancelled on stop; failures logged)."""
        return self._tasks.spawn(coro, name)

    def wake_outbox(self) -> None:
        """Deliver rows another module queued in the outbox."""
        self.delivery.wake()

    # ---- status and control -------------------------------------------------------------------------
    @property
    def registration(self) -> str:
        """The last BootNotification.conf status: NotSent, Pending, Rejected or Accepted."""
        return self.registration_state.state

    @property
    def online(self) -> bool:
        """Connected and registration accepted."""
        return self.calls.online

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.link.connected, "state": self.link.state, "enabled": self.link.enabled,
            "url": url_without_credentials(self.settings.endpoint), "registration": self.registration,
            "last_error": self.link.last_error, "queue_depth": self.outbox.depth(),
            "transaction_queue_depth": self.outbox.durable_depth(),
            "local_list_version": self.authorizer.list_version,
            "local_list_size": self.authorizer.list_size(), "auth_cache_size": self.authorizer.cache_size(),
            "connections": self.link.connections,
        }

    def active_transaction_id(self, connector_id: int) -> int | None:
        """The OCPP transactionId of the session running on a connector (None if none or not yet known)."""
        return self.transactions.active_transaction_id(connector_id)

    async def call_online(self, payload: Any) -> Any:
        """Send one CALL now; ConnectionError when not registered with the CSMS."""
        return await self.calls.call_online(payload)

    async def notify_firmware_status(self, status: str) -> None:
        """FirmwareStatusNotification now; ConnectionError when not registered with the CSMS."""
        await self.firmware_management.notify_firmware_status(status)

    async def notify_diagnostics_status(self, status: str) -> None:
        await self.firmware_management.notify_diagnostics_status(status)

    async def _control(self, args: dict[str, Any]) -> dict[str, Any]:
        action = args.get("action")
        if action == "disconnect":
            closed = self.calls.closed
            connected = self.calls.cp is not None
            await self.link.disable()
            if connected:
                await self._wait_briefly(closed)
        elif action == "connect":
            self.link.enable()
            await self._wait_briefly(self._online)
        else:
            raise ControlError(f"unknown ocpp action {action!r}; known: connect, disconnect")
        return self.status()

    async def _wait_briefly(self, event: asyncio.Event) -> None:
        """Let a control command report the outcome when it comes quickly (else the reply says so)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), CONTROL_WAIT_S)

    # ---- one connection -----------------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        cp = ChargePoint16(self._parts, ws, response_timeout=self.settings.response_timeout_s)
        await self.calls.run(cp, self._run_registered)

    async def _run_registered(self) -> None:
        registration = self.registration_state
        first = not registration.accepted_once
        if first:
            await registration.register()
        self._online.set()
        if first:
            for hook in self.extensions.after_registration:
                self.spawn(hook(), name="ocpp-after-registration")
        for hook in self.extensions.each_connection:
            self.spawn(hook(), name="ocpp-each-connection")
        self.statuses.queue_all()
        # Two lanes share the connection (one CALL at a time): transaction messages strictly in order, and
        # status / live meter values, which never wait behind a transaction backlog or retry.
        await asyncio.gather(registration.heartbeat_loop(), self.delivery.loop(True),
                             self.delivery.loop(False))

    # ---- core events and configuration changes ------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, MeterSampled):
            self.sampling.readings.sampled(event.connector_id, event.reading, event.timestamp)
        elif isinstance(event, OfferChanged):
            self.sampling.readings.offered(event.connector_id, event.offered_a)
        elif isinstance(event, StatusChanged):
            self.statuses.on_status(event)
        elif isinstance(event, SessionStarted):
            self.remote.release_remote_start_claim(event.connector_id)
            self.transactions.session_started(event)
        elif isinstance(event, SessionStopped):
            self.transactions.session_stopped(event)

    def _config_changed(self, key: str, value: str) -> None:
        if key == "AuthorizationKey":
            remember_secret(value, self.settings.charge_point_id)
        elif key == "HeartbeatInterval":
            self.registration_state.heartbeat_changed.set()
        elif key == "ClockAlignedDataInterval":
            self.sampling.aligned_changed.set()
        elif key == "ConnectionTimeOut":
            self.station.set_connection_timeout(int(value))

    async def _tariff_text(self, connector_id: int, id_tag: str | None) -> str | None:
        """The price text a signing meter signs (TT): the driver's own, waited for as configured."""
        assert self.pricing is not None
        return await self.pricing.tariff_text(id_tag)

    async def _online_authorize(self, id_tag: str) -> dict[str, Any] | None:
        try:
            conf = await self.calls.call(call.Authorize(id_tag=id_tag))
        except (OCPPError, TimeoutError, ConnectionError) as exc:
            log.warning("Authorize failed, deciding offline: %s", exc)
            return None
        info: dict[str, Any] = conf.id_tag_info
        return info
