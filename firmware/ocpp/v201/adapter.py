"""The OCPP 2.0.1 adapter, chosen by `[ocpp] version = "2.0.1"` (firmware/ocpp/versions.py).

What it does today (docs/ocpp201.md has the full table):
- one websocket link through the common connection code (subprotocol `ocpp2.0.1`, reconnect backoff,
  security profiles 0-2 with the common link security: HTTP Basic with SecurityCtrlr.BasicAuthPassword, TLS
  checked against the CSMS roots);
- registration (B01-B03): BootNotification with its reason until Accepted; while Pending or Rejected nothing
  else is sent, CSMS requests are answered (a CSMS may read the device model during Pending);
- after registration a StatusNotification for every connector (G01), and again on every change; Heartbeat
  every OCPPCommCtrlr.HeartbeatInterval, the answer's time sets the clock (TimeSource Heartbeat);
- the device model (B05-B08) with live values from the station;
- authorization (C01, C09-C12, C15; firmware/ocpp/v201/authorization.py): Authorize, the cache, the
  offline rules; the local list (D01/D02, firmware/ocpp/v201/local_list.py);
- TriggerMessage (F06, firmware/ocpp/v201/trigger.py) for its own BootNotification, Heartbeat and
  StatusNotification and for whatever the features offer;
- with a driver display, TariffAndCost (I01-I06, firmware/ocpp/v201/tariff_cost.py);
- SecurityEventNotification (A04, firmware/ocpp/v201/security_events.py) through the durable outbox;
- UpdateFirmware (L01, firmware/ocpp/v201/firmware.py) and GetLog (N01, firmware/ocpp/v201/logs.py);
- remote control and availability (F01-F03, F05, G03/G04, firmware/ocpp/v201/remote.py);
- NotifyEvent for every fault raised or cleared (G05, N07, firmware/ocpp/v201/fault_events.py);
- reservations (H01, H02, H04, firmware/ocpp/v201/reservations.py);
- certificate management (M03-M05) and the station certificate's renewal (A02, A03,
  firmware/ocpp/v201/certificates.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection

from firmware.control.server import ControlError
from firmware.core.events import CoreEvent, StatusChanged
from firmware.ocpp.common.connection import OcppLink
from firmware.ocpp.common.framing import FrameContext
from firmware.ocpp.common.invalid_messages import InvalidMessages
from firmware.ocpp.common.keystore import ConfigurationStore, KeySpec
from firmware.ocpp.common.link_security import LinkSecurity
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.rate_limit import CallRateLimit
from firmware.ocpp.common.tasks import OwnedTasks
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.ocpp.v201.aligned import AlignedData201
from firmware.ocpp.v201.authorization import Authorization201
from firmware.ocpp.v201.certificates import Certificates201
from firmware.ocpp.v201.charge_point import SUBPROTOCOL, ChargePoint201
from firmware.ocpp.v201.charging_limits import ChargingLimits201
from firmware.ocpp.v201.customer_information import CustomerInformation201
from firmware.ocpp.v201.data_transfer import DataTransfer201
from firmware.ocpp.v201.delivery import Delivery201
from firmware.ocpp.v201.device_model.definitions import load_components
from firmware.ocpp.v201.device_model.installation import installation_from
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.fault_events import FaultEvents201
from firmware.ocpp.v201.feature import Feature
from firmware.ocpp.v201.firmware import Firmware201, exit_to_restart
from firmware.ocpp.v201.live import LiveValues
from firmware.ocpp.v201.local_list import LocalList201
from firmware.ocpp.v201.logs import Logs201
from firmware.ocpp.v201.network_profile import NetworkProfile201
from firmware.ocpp.v201.network_slots import NetworkSlots
from firmware.ocpp.v201.provisioning import Provisioning
from firmware.ocpp.v201.remote import Remote201
from firmware.ocpp.v201.reservations import Reservations201
from firmware.ocpp.v201.reset import Reset201
from firmware.ocpp.v201.security_events import SecurityEvents201
from firmware.ocpp.v201.signed import SignedValues201
from firmware.ocpp.v201.smart_charging import SmartCharging201
from firmware.ocpp.v201.status import connector_status
from firmware.ocpp.v201.tariff_cost import TariffCost201
from firmware.ocpp.v201.transactions import Transactions201
from firmware.ocpp.v201.trigger import EvseRef, RemoteTrigger, Trigger
from firmware.redaction import url_without_credentials
from firmware.security.certificates import open_store
from firmware.security.events import open_security_log
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir

if TYPE_CHECKING:
    from firmware.ocpp.common.runtime import AdapterContext

log = logging.getLogger(__name__)

ALLOW_SESSIONS_PENDING_UPDATE = "ChargingStation.AllowNewSessionsPendingFirmwareUpdate"  # L01.FR.07
BOOT_RETRY_DEFAULT_S = 60.0  # a Pending/Rejected answer with interval 0, or no answer at all
CONTROL_WAIT_S = 5.0


class Adapter201:
    def __init__(self, context: AdapterContext) -> None:
        settings = context.settings
        assert settings.ocpp is not None
        self.settings = settings.ocpp
        # The library logs every frame at INFO: keep that off flash storage unless asked for.
        logging.getLogger("ocpp").setLevel(logging.INFO if self.settings.log_frames else logging.WARNING)
        self.station = context.station
        self._station_settings = settings.station
        self.clock = context.clock
        state = context.storage or StateDir(context.state_dir)
        self._db = StateDatabase(state, "ocpp201.sqlite3", essential=True, synchronous="FULL", private=True,
                                 setup=None)
        # The link security of the common runtime keeps the profile and the Basic-auth password under these
        # two names; in 2.0.1 they are SecurityCtrlr.SecurityProfile and SecurityCtrlr.BasicAuthPassword.
        self.keys = ConfigurationStore(self._db, {
            "SecurityProfile": KeySpec("SecurityProfile", "int", str(self.settings.security_profile),
                                       minimum=0, maximum=3),
            "AuthorizationKey": KeySpec("AuthorizationKey", "str", self.settings.authorization_key or "",
                                        maximum=40, secret=True),
        }, {})
        self.certificates = open_store(context.state_dir, self.settings.firmware.trust_roots)
        self.security_log = context.security_log or open_security_log(context.state_dir, context.clock)
        self.link_security = LinkSecurity(self.settings, self._db, self.keys, self.certificates,
                                          self.security_log)
        self.outbox = Outbox(self._db)
        self._tasks = OwnedTasks(log)  # the @after hooks of CSMS requests
        monotonic = self.clock.monotonic
        self._framing = FrameContext(CallRateLimit(self.settings.rate_limit, monotonic),
                                     InvalidMessages(self.security_log, monotonic), self._tasks.spawn,
                                     self.settings.log_frames, self.settings.validate_replies)
        self._online = asyncio.Event()  # connected and registration accepted
        smart = context.smart_charging
        live = LiveValues(self.station.snapshot, {
            "SecurityCtrlr.CertificateEntries": self.certificates.entries,
            "LocalAuthListCtrlr.Entries": lambda: self.authorization.store.list_size(),
            "SmartChargingCtrlr.Entries": lambda: len(smart.profiles) if smart is not None else 0,
            "OCPPCommCtrlr.ActiveNetworkProfile": lambda: self.network.active,
            "SecurityCtrlr.SecurityProfile": lambda: self.link_security.profile,
        })
        self.model = DeviceModel.build(load_components(), installation_from(settings, self.settings),
                                       self._db, self.settings.device_model, live)
        # The connection profiles (B09/B10, A05): slot 1 the [ocpp] section, 2 and 3 from the CSMS.
        self.network = NetworkSlots(self.settings, self._db, self.model, self.keys, self.link_security,
                                    self.security_log)
        self.delivery = Delivery201(self.outbox, self.model, self.clock)
        signed = None if context.signed_metering is None else SignedValues201(
            context.signed_metering, lambda: self.model.text("OCPPCommCtrlr.PublicKeyWithSignedMeterValue"))
        self.transactions = Transactions201(self.station, self.clock, self.model, self._db, self.outbox,
                                            self.delivery, lambda: self.link.connected, signed)
        self.authorization = Authorization201(self.station, self.model, self._db, self.clock, self.delivery,
                                              lambda: self.cp, self._online.is_set,
                                              self.transactions.token_types)
        self.local_list = LocalList201(self.authorization.store, self.model, self.clock)
        self.security_events = SecurityEvents201(self._db, self.security_log, self.outbox, self.delivery.wake)
        restart = context.restart or exit_to_restart
        self.firmware = Firmware201(self.settings, self.clock, context.state_dir, self.station,
                                    self.security_log, lambda: restart(False), lambda: self.cp,
                                    self._online.is_set, settings.station.firmware_version,
                                    lambda: self.model.text(ALLOW_SESSIONS_PENDING_UPDATE) == "true")
        self.logs = Logs201(self.settings, self.clock, context.state_dir, self.station.snapshot,
                            self.security_log, lambda: self.cp, self._online.is_set,
                            self.link_security.trust_anchors_pem)
        self._db.salvage()
        # How long an authorization waits for the EV: the core's connection timeout (1.6 ConnectionTimeOut).
        self.station.set_connection_timeout(self.model.integer("TxCtrlr.EVConnectionTimeOut"))
        self.model.on_change(self._variable_changed)
        self.provisioning = Provisioning(self.model, lambda: rfc3339(self.clock.now()))
        # The functional blocks (firmware/ocpp/v201/feature.py), each in a module of its own.
        self.features: list[Feature] = []
        self.features.append(RemoteTrigger(lambda: (self, *self.features), lambda: self.cp,
                                           lambda: self.station.connector_ids))
        self.remote = Remote201(self.station, self.clock, self.model, self._db, self.transactions,
                                lambda: self.smart_charging, lambda *ask: self.reservations.admits(*ask))
        # K11-K13: the local limit sources (load management, demand response, derating) reported.
        self.charging_limits = ChargingLimits201(
            self.station, self._db, self.outbox, self.delivery.wake, self.clock, self.model,
            lambda evse, when: self.transactions.queue_meter(evse, when, "ChargingRateChanged", None))
        self.fault_events = FaultEvents201(self.station, self._db, self.outbox, self.delivery.wake,
                                           self.clock)
        self.reservations = Reservations201(self.station, self.clock, self.model, self._db, self.outbox,
                                            self.delivery.wake, self.transactions.token_types)
        self.data_transfer = DataTransfer201(self.station.snapshot, lambda: self.cp, self._online.is_set)
        self.customer_information = CustomerInformation201(
            self.authorization.store, self.transactions.store, lambda: rfc3339(self.clock.now()),
            lambda: self.cp)
        self.reset = Reset201(self.station, self.clock, self._db, self.transactions, self.outbox,
                              self._online.is_set, self.security_log, lambda: restart(False))
        self.features += [self.delivery, self.transactions, self.authorization, self.local_list,
                          self.security_events, self.firmware, self.logs, self.remote, self.fault_events,
                          self.charging_limits, self.reservations, self.data_transfer, self.reset,
                          self.customer_information,
                          NetworkProfile201(self.network, self.link_security, self.model)]
        # Certificate management (M03-M05) and the station certificate's renewal (A02/A03).
        self.certificate_management = Certificates201(
            self.certificates, self.link_security, self.security_log, self.clock, self.model,
            self.settings.ca_file is not None, settings.station.serial_number, lambda: self.cp,
            self._online.is_set)
        self.features.append(self.certificate_management)
        # Smart Charging (K01-K10) on the neutral service; None without one (RequestStartTransaction's
        # chargingProfile is then ignored, F01.FR.12).
        self.smart_charging = None if smart is None else SmartCharging201(
            smart, self.model, lambda evse: self.transactions.transaction_on(evse), lambda: self.cp,
            self.charging_limits.reported)
        if self.smart_charging is not None:
            self.features.append(self.smart_charging)
            began, ended = self.smart_charging.transaction_began, self.smart_charging.transaction_ended
            self.transactions.began.subscribe(lambda tx: began(tx.evse_id, tx.transaction_id))
            self.transactions.ended.subscribe(lambda tx: ended(tx.evse_id))
        self.aligned = AlignedData201(self.clock, self.model, self.transactions, lambda: self.cp,
                                      self._online.is_set, lambda: list(self.station.connector_ids))
        self.features.append(self.aligned)  # J01 clock-aligned values, MeterValues, F06 meter triggers
        # TariffAndCost (I01-I06) on the driver display, when there is one.
        self.tariff_cost = None if context.display is None else TariffCost201(
            self.station, self.clock, self.model, context.display, self.transactions, self.delivery,
            lambda: self.link.connected)
        if self.tariff_cost is not None:
            self.features.append(self.tariff_cost)
            tariff = self.tariff_cost  # I01: the AuthorizeResponse's personal message is the driver's tariff
            self.authorization.on_answer(lambda token, answer: tariff.personal(token["id_token"],
                                                                               answer.id_token_info))
        self.link = OcppLink(self.settings, self.clock, self._session,
                             lambda: self.model.integer("OCPPCommCtrlr.WebSocketPingInterval"),
                             lambda: self.keys.get("AuthorizationKey") or None, self.network,
                             subprotocol=SUBPROTOCOL)
        self.registration = "NotSent"
        self.boot_reason = ("FirmwareUpdate" if self.firmware.restarted_to_install
                            else self.reset.boot_reason or "PowerUp")
        self.cp: ChargePoint201 | None = None
        self._status_changed = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._boot_now = asyncio.Event()
        self._sent_status: dict[int, str] = {}
        self._link_task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = self.station.subscribe(self._on_event)
        self.authorization.install()
        context.control.register("ocpp", self._control)
        self.station.add_status_section("ocpp", self.status)
        self.station.add_connector_status_field("transaction", self.transactions.transaction_status)

    # --- OcppRuntime ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.transactions.start()
        self.security_events.start()
        self.reservations.start()
        self.fault_events.start()
        self.charging_limits.start()
        self.aligned.start()
        self._link_task = asyncio.create_task(self.link.run(), name="ocpp201-link")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.link.close()
        if self._link_task is not None:
            self._link_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._link_task
        for task in self._tasks.take():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.transactions.stop()
        self.security_events.stop()
        self.firmware.stop()
        self.remote.stop()
        self.fault_events.stop()
        self.charging_limits.stop()
        self.reservations.stop()
        self.reset.stop()
        self.logs.stop()
        self.certificate_management.stop()
        await self.aligned.stop()
        if self.tariff_cost is not None:
            self.tariff_cost.stop()
        self._db.close()

    def status(self) -> dict[str, Any]:
        return {"version": "2.0.1", "connected": self.link.connected, "state": self.link.state,
                "enabled": self.link.enabled, "url": url_without_credentials(self.network.endpoint),
                "registration": self.registration, "last_error": self.link.last_error,
                "queue_depth": self.outbox.depth(), "transaction_queue_depth": self.outbox.durable_depth(),
                "connections": self.link.connections,
                "local_list_version": self.local_list.version,
                "local_list_size": self.authorization.store.list_size(),
                "auth_cache_size": self.authorization.store.cache_size()}

    async def _control(self, args: dict[str, Any]) -> dict[str, Any]:
        action = args.get("action")
        if action == "disconnect":
            await self.link.disable()
        elif action == "connect":
            self.link.enable()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._online.wait(), CONTROL_WAIT_S)
        else:
            raise ControlError(f"unknown ocpp action {action!r}; known: connect, disconnect")
        return self.status()

    # --- events --------------------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, StatusChanged):
            self._status_changed.set()

    def _variable_changed(self, key: Any, value: str) -> None:
        text = key.text()
        if text == "SecurityCtrlr.BasicAuthPassword":
            # A01: the new password is used from the next connection on; never logged.
            self.keys.set_value("AuthorizationKey", value)
        elif text == "OCPPCommCtrlr.HeartbeatInterval":
            self._heartbeat_changed.set()
        elif text == "TxCtrlr.EVConnectionTimeOut":
            self.station.set_connection_timeout(int(value))

    # --- one connection ------------------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        station = self._station_settings
        cp = ChargePoint201(self.settings.charge_point_id, ws, self._framing, self.provisioning,
                            station.vendor, station.model, station.serial_number, self.firmware.version,
                            response_timeout=self.network.message_timeout, features=self.features)
        self.cp = cp
        reader = asyncio.create_task(cp.start(), name="ocpp201-reader")
        work = asyncio.create_task(self._registered(cp), name="ocpp201-session")
        try:
            done, _ = await asyncio.wait({reader, work}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, ConnectionError):
                    log.debug("OCPP 2.0.1 session ended: %r", exc)
        finally:
            self._online.clear()
            self.cp = None
            # Both end with the session, also when it is cancelled (stop): nothing runs on unobserved.
            for task in (reader, work):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _registered(self, cp: ChargePoint201) -> None:
        await self._register(cp)
        self._online.set()
        self._sent_status.clear()  # after (re)connecting every connector is reported again
        await asyncio.gather(self._status_loop(cp), self._heartbeat_loop(cp),
                             *(feature.online(cp) for feature in self.features))

    async def _register(self, cp: ChargePoint201) -> None:
        while True:
            retry = BOOT_RETRY_DEFAULT_S
            try:
                answer = await cp.boot(self.boot_reason)
            except (OCPPError, TimeoutError) as exc:
                log.warning("BootNotification failed: %s", exc)
            else:
                self.registration = str(answer.status)
                self._set_clock(answer.current_time)
                if answer.status == "Accepted":
                    self.boot_reason = "PowerUp"
                    self.reset.registered()
                    return
                retry = float(answer.interval) or BOOT_RETRY_DEFAULT_S
                log.warning("BootNotification %s; again in %.0f s", answer.status, retry)
            self._boot_now.clear()
            await self._sleep_unless(retry, self._boot_now)  # a triggered BootNotification goes at once

    async def _status_loop(self, cp: ChargePoint201) -> None:
        while True:
            self._status_changed.clear()
            for connector_id in self.station.connector_ids:
                status = connector_status(self.station.state_of(connector_id))
                if self._sent_status.get(connector_id) != status:
                    await self._send_status(cp, connector_id)
            await self._status_changed.wait()

    async def _send_status(self, cp: ChargePoint201, connector_id: int) -> None:
        status = connector_status(self.station.state_of(connector_id))
        await cp.call(call.StatusNotification(
            timestamp=rfc3339(self.clock.now()), connector_status=status, evse_id=connector_id,
            connector_id=1), suppress=False)
        self._sent_status[connector_id] = status

    async def _heartbeat_loop(self, cp: ChargePoint201) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.model.integer("OCPPCommCtrlr.HeartbeatInterval")
            await self._sleep_unless(interval, self._heartbeat_changed)
            if self._heartbeat_changed.is_set():
                continue
            await self._heartbeat(cp)

    async def _heartbeat(self, cp: ChargePoint201) -> None:
        try:
            self._set_clock(await cp.heartbeat())
        except (OCPPError, TimeoutError) as exc:
            log.warning("Heartbeat failed: %s", exc)

    async def _sleep_unless(self, seconds: float, wake: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # --- TriggerMessage (F06, firmware/ocpp/v201/trigger.py) ------------------------------------------
    def triggers(self) -> dict[str, Trigger]:
        async def boot(cp: ChargePoint201, evse: EvseRef | None) -> None:
            self._boot_now.set()

        async def heartbeat(cp: ChargePoint201, evse: EvseRef | None) -> None:
            await self._heartbeat(cp)

        async def status(cp: ChargePoint201, evse: EvseRef | None) -> None:
            assert evse is not None  # per_connector
            await self._send_status(cp, evse.id)

        return {
            # F06.FR.17: only while the last BootNotification was not Accepted
            "BootNotification": Trigger(boot, accepts=lambda evse: self.registration != "Accepted"),
            "Heartbeat": Trigger(heartbeat),
            "StatusNotification": Trigger(status, evse_scoped=True, per_connector=True),
        }

    def _set_clock(self, text: str) -> None:
        when: datetime | None = parse_ocpp_time(text)
        if when is not None and when.tzinfo is not None:
            self.clock.set_now(when)
