"""Meter values in 1.6 on the common sampling policy (firmware/ocpp/common/sampling.py): each
transaction's periodic sampler (MeterValueSampleInterval: a MeterValues with MeterValuesSampledData and a
StopTxnSampledData value in the transaction's data), clock-aligned values (ClockAlignedDataInterval,
MeterValuesAlignedData, StopTxnAlignedData; OCPP 1.6 §9.1), and the 1.6 MeterValue of a reading."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from firmware.core.api import StationApi
from firmware.ocpp.common.keystore import ConfigurationStore
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.sampling import ConnectorReadings, sample_clock_aligned, sample_periodically
from firmware.ocpp.v16.calls import Calls16
from firmware.ocpp.v16.messages import METER_VALUES
from firmware.ocpp.v16.meter_values import meter_value
from hal.clock import Clock
from hal.types import MeterReading

SAMPLE_INTERVAL = "MeterValueSampleInterval"


class MeterSampling16:
    def __init__(self, station: StationApi, clock: Clock, config: ConfigurationStore, outbox: Outbox,
                 calls: Calls16, wake_outbox: Callable[[], None]) -> None:
        self._station = station
        self._clock = clock
        self._config = config
        self._outbox = outbox
        self._calls = calls
        self._wake_outbox = wake_outbox
        self.readings = ConnectorReadings()
        self.samplers: dict[str, asyncio.Task[None]] = {}
        self.aligned_changed = asyncio.Event()

    def latest_reading(self, connector_id: int) -> MeterReading | None:
        return self.readings.latest(connector_id)

    # ---- MeterValue entries -------------------------------------------------------------------------
    def meter_value(self, connector_id: int, when: datetime, reading: MeterReading, key: str,
                    context: str) -> dict[str, Any] | None:
        """One MeterValue with the measurands configured under `key` (None if none can be given)."""
        measurands = self._config.get_list(key)
        temperature = self._temperature(connector_id) if "Temperature" in measurands else None
        return meter_value(when, reading, measurands, context, self.readings.offered_a(connector_id),
                           temperature)

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
            self.samplers[session_id] = asyncio.create_task(sample_periodically(
                self._clock, {SAMPLE_INTERVAL: lambda: self._config.get_int(SAMPLE_INTERVAL)},
                lambda _: self._sample(session_id, connector_id)), name=f"ocpp-sampler-{connector_id}")

    def stop_sampler(self, session_id: str) -> None:
        sampler = self.samplers.pop(session_id, None)
        if sampler is not None:
            sampler.cancel()

    def _sample(self, session_id: str, connector_id: int) -> None:
        reading = self.readings.latest(connector_id)
        if reading is None:
            return
        now = self._clock.now()
        value = self.meter_value(connector_id, now, reading, "MeterValuesSampledData", "Sample.Periodic")
        if value is not None:
            self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                              session_id=session_id)
            self._wake_outbox()
        self.tx_sample(session_id, connector_id, now, "Sample.Periodic", reading, "StopTxnSampledData")

    # ---- clock-aligned ------------------------------------------------------------------------------
    async def aligned_loop(self) -> None:
        """Clock-aligned meter values, aligned to midnight UTC (OCPP 1.6 §9.1 ClockAlignedDataInterval)."""
        await sample_clock_aligned(self._clock, lambda: self._config.get_int("ClockAlignedDataInterval"),
                                   self.aligned_changed, self._send_aligned)

    def _send_aligned(self, now: datetime) -> None:
        for connector_id in self._station.connector_ids:
            reading = self.readings.latest(connector_id)
            if reading is None:
                continue
            session = self._station.session_of(connector_id)
            session_id = None if session is None else str(session["id"])
            value = self.meter_value(connector_id, now, reading, "MeterValuesAlignedData", "Sample.Clock")
            if session_id is not None and self._outbox.knows(session_id):
                if value is not None:
                    self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                      session_id=session_id)
                self.tx_sample(session_id, connector_id, now, "Sample.Clock", reading, "StopTxnAlignedData")
            elif value is not None and self._calls.online:
                self._outbox.push(METER_VALUES, {"connector_id": connector_id, "meter_value": [value]},
                                  durable=False)
        self._wake_outbox()
