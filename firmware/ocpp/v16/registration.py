"""Registration and liveness on a 1.6 connection: BootNotification until Accepted (nothing else is sent
meanwhile; CSMS calls are answered), the heartbeat, and the clock set from the CSMS's time (a large
correction is a SettingSystemTime security event)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.tasks import pause
from firmware.ocpp.common.timefmt import parse_ocpp_time, rfc3339
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.extensions import Extensions16
from firmware.security.events import SecurityEventType, SecurityLog
from hal.clock import Clock

log = logging.getLogger(__name__)

BOOT_RETRY_DEFAULT_S = 60.0  # BootNotification.conf interval 0 (or no answer): our own retry period
CLOCK_EVENT_MIN_S = 60.0  # a clock correction this large is a SettingSystemTime security event


@dataclass(frozen=True)
class Identity16:
    """What BootNotification says about the charge point."""

    vendor: str
    model: str
    serial_number: str


class Registration16:
    def __init__(self, calls: Calls16, config: ConfigurationStore, clock: Clock, security_log: SecurityLog,
                 identity: Identity16, extensions: Extensions16) -> None:
        self._calls = calls
        self._config = config
        self._clock = clock
        self._security_log = security_log
        self._identity = identity
        self._extensions = extensions
        self.state = "NotSent"  # NotSent, Pending, Rejected, Accepted (last BootNotification.conf)
        self.accepted_once = False
        self.boot_now = asyncio.Event()
        self.heartbeat_changed = asyncio.Event()

    def boot_payload(self) -> Any:
        ident = self._identity
        return call.BootNotification(charge_point_vendor=ident.vendor, charge_point_model=ident.model,
                                     charge_point_serial_number=ident.serial_number,
                                     charge_box_serial_number=ident.serial_number,
                                     firmware_version=self._extensions.firmware_version()[:50])

    async def register(self) -> None:
        """BootNotification until Accepted; nothing else is sent meanwhile (CSMS calls are answered)."""
        while True:
            retry = BOOT_RETRY_DEFAULT_S
            try:
                conf = await self._calls.call(self.boot_payload())
            except (OCPPError, TimeoutError) as exc:
                log.warning("BootNotification failed: %s", exc)
            else:
                self.apply_boot(conf)
                if conf.status == "Accepted":
                    return
                retry = float(conf.interval) or BOOT_RETRY_DEFAULT_S
            self.boot_now.clear()
            await pause(self._clock, retry, self.boot_now)

    async def triggered_boot(self) -> None:
        """TriggerMessage(BootNotification): before the first acceptance it wakes the registration loop."""
        if not self.accepted_once:
            self.boot_now.set()
            return
        self.apply_boot(await self._calls.call(self.boot_payload()))

    def apply_boot(self, conf: Any) -> None:
        self.state = str(conf.status)
        self.set_clock(conf.current_time)
        if conf.status == "Accepted":
            self.accepted_once = True
            if conf.interval > 0:
                self._config.change("HeartbeatInterval", str(conf.interval))

    def set_clock(self, text: str) -> None:
        when = parse_ocpp_time(text)
        if when is not None and when.tzinfo is not None:
            before = self._clock.now()
            self._clock.set_now(when)
            if abs((when - before).total_seconds()) >= CLOCK_EVENT_MIN_S:
                self._security_log.record(SecurityEventType.SETTING_SYSTEM_TIME,
                                          f"from {rfc3339(before)} to {rfc3339(when)} (CSMS time)")

    async def heartbeat_loop(self) -> None:
        while True:
            self.heartbeat_changed.clear()
            interval = self._config.get_int("HeartbeatInterval")
            await pause(self._clock, interval if interval > 0 else 86400.0, self.heartbeat_changed)
            if self.heartbeat_changed.is_set() or interval <= 0:
                continue
            await self.heartbeat()

    async def heartbeat(self) -> None:
        try:
            conf = await self._calls.call(call.Heartbeat())
        except (OCPPError, TimeoutError) as exc:
            log.warning("Heartbeat failed: %s", exc)
            return
        self.set_clock(conf.current_time)
