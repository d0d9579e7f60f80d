"""Meter values in 1.6: the latest reading and offered current of each connector, the periodic sampler
of each transaction (MeterValueSampleInterval, MeterValuesSampledData, StopTxnSampledData), clock-aligned
values (ClockAlignedDataInterval, aligned to midnight UTC, OCPP 1.6 §9.1) and what goes into a
transaction's data for StopTransaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from firmware.core.api import StationApi
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.tasks import pause
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.messages import METER_VALUES
from firmware.ocpp.v16.meter_values import meter_value
from hal.clock import Clock
from hal.types import MeterReading


class MeterSampling16:
    def __init__(self, station: StationApi, clock: Clock, config: ConfigurationStore, outbox: Outbox,
                 calls: Calls16, wake_outbox: Callable[[], None]) -> None:
        self._station = station
        self._clock = clock
        self._config = config
        self._outbox = outbox
        self._calls = calls
        self._wake_outbox = wake_outbox
        self._latest: dict[int, tuple[MeterReading, datetime]] = {}
        self._offered: dict[int, float] = {}
        self.samplers: dict[str, asyncio.Task[None]] = {}
        self.aligned_changed = asyncio.Event()

    # ---- what the core reports ----------------------------------------------------------------------
    def sampled(self, connector_id: int, reading: MeterReading, when: datetime) -> None:
        self._latest[connector_id] = (reading, when)

    def offered(self, connector_id: int, offered_a: float) -> None:
        self._offered[connector_id] = offered_a

    def latest_reading(self, connector_id: int) -> MeterReading | None:
        latest = self._latest.get(connector_id)
        return None if latest is None else latest[0]

    def reading(self, connector_id: int, energy_wh: float) -> MeterReading:
        """The latest reading of a connector with its energy register replaced by `energy_wh`."""
        latest = self._latest.get(connector_id)
        if latest is None:
            return MeterReading(energy_import_wh=energy_wh)
        reading = latest[0]
        return MeterReading(energy_wh, reading.voltage_v, reading.current_a, reading.power_w,
                            reading.frequency_hz, reading.power_total_w)

    # ---- MeterValue entries -------------------------------------------------------------------------
    def meter_value(self, connector_id: int, when: datetime, reading: MeterReading, key: str,
                    context: str) -> dict[str, Any] | None:
        """One MeterValue with the measurands configured under `key` (None if none can be given)."""
        measurands = self._config.get_list(key)
        temperature = self._temperature(connector_id) if "Temperature" in measurands else None
        return meter_value(when, reading, measurands, context, self._offered.get(connector_id), temperature)

    def meter_value_now(self, connector_id: int, reading: MeterReading,
                        context: str) -> dict[str, Any] | None:
        return self.meter_value(connector_id, self._clock.now(), reading, "MeterValuesSampledData", context)

    def _temperature(self, connector_id: int) -> float | None:
        """The connector's temperature sensor, as the core reports it in the status document."""
        for connector in self._station.snapshot().get("connectors", []):
            if connector.get("id") == connector_id and connector.get("temperature_c") is not None:
                return float(connector["temperature_c"])
        return None

    def tx_sample(self, session_id: str, connector_id: int, when: datetime, context: str,
                  reading: MeterReading, key: str) -> None:
        """Add a value to the session's transaction data (StopTransaction.transactionData)."""
        value = self.meter_value(connector_id, when, reading, key, context)
        if value is not None:
            self._outbox.add_tx_data(session_id, value)

    # ---- periodic, per transaction ------------------------------------------------------------------
    def start_sampler(self, session_id: str, connector_id: int) -> None:
        if session_id not in self.samplers:
            self.samplers[session_id] = asyncio.create_task(self._sample_loop(session_id, connector_id),
                                                            name=f"ocpp-sampler-{connector_id}")

    def stop_sampler(self, session_id: str) -> None:
        sampler = self.samplers.pop(session_id, None)
        if sampler is not None:
            sampler.cancel()

    async def _sample_loop(self, session_id: str, connector_id: int) -> None:
        while True:
            interval = self._config.get_int("MeterValueSampleInterval")
            await self._clock.sleep(interval if interval > 0 else 60.0)
            latest = self._latest.get(connector_id)
            if interval <= 0 or latest is None:
                continue
            now = self._clock.now()
            value = self.meter_value(connector_id, now, latest[0], "MeterValuesSampledData",
                                     "Sample.Periodic")
            if value is not None:
                self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                  session_id=session_id)
                self._wake_outbox()
            self.tx_sample(session_id, connector_id, now, "Sample.Periodic", latest[0], "StopTxnSampledData")

    # ---- clock-aligned ------------------------------------------------------------------------------
    async def aligned_loop(self) -> None:
        """Clock-aligned meter values, aligned to midnight UTC (OCPP 1.6 §9.1 ClockAlignedDataInterval)."""
        while True:
            self.aligned_changed.clear()
            interval = self._config.get_int("ClockAlignedDataInterval")
            if interval <= 0:
                await self.aligned_changed.wait()
                continue
            now = self._clock.now()
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            elapsed = (now - midnight).total_seconds()
            wait = interval - (elapsed % interval)
            await pause(self._clock, wait, self.aligned_changed)
            if self.aligned_changed.is_set():
                continue
            self._send_aligned(self._clock.now())
            await self._clock.sleep(0.001)  # step past the boundary

    def _send_aligned(self, now: datetime) -> None:
        for connector_id in self._station.connector_ids:
            latest = self._latest.get(connector_id)
            if latest is None:
                continue
            session = self._station.session_of(connector_id)
            session_id = None if session is None else str(session["id"])
            value = self.meter_value(connector_id, now, latest[0], "MeterValuesAlignedData", "Sample.Clock")
            if session_id is not None and self._outbox.knows(session_id):
                if value is not None:
                    self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                      session_id=session_id)
                self.tx_sample(session_id, connector_id, now, "Sample.Clock", latest[0],
                               "StopTxnAlignedData")
            elif value is not None and self._calls.online:
                self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                  durable=False)
        self._wake_outbox()
