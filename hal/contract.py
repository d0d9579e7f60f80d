"""The HAL contract: what the firmware may ask of each hardware part, one Protocol per part.

Rules every driver follows:
* Commands that protect people (`Contactor.open`, `ControlPilot.set_output`) are synchronous, fast
  (no I/O waits beyond a register write) and thread-safe, so the safety supervisor can call them from
  whichever thread noticed the danger.
* Inputs are pushed: `subscribe(callback)` registers a callback that the driver calls, possibly from
  its own thread, on every change. Callbacks must be quick and must not block.
* Slow reads (meters, temperature, self tests) are async. Lifecycle is `async start()` / `async stop()`.
* Nothing here imports GPIO, SPI or Modbus libraries; drivers do, lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hal.display import DriverDisplay
from hal.ocmf import SignedRecord, SignedTransactionRequest
from hal.types import (
    IndicatorState,
    MeterReading,
    PilotOutput,
    PilotReading,
    ProximityReading,
    SelfTestResult,
)

Unsubscribe = Callable[[], None]


class HalError(Exception):
    """A hardware part failed (bus error, missing device, timeout)."""


class MeterError(HalError):
    """The energy meter did not give a usable reading."""


@runtime_checkable
class Lifecycle(Protocol):
    async def start(self) -> None:
        """Open the device and drive it to its safe state."""

    async def stop(self) -> None:
        """Drive the device to its safe state and release it. (Named stop, not close: a contactor
        closes.)"""


class ControlPilot(Lifecycle, Protocol):
    """IEC 61851-1 control pilot: 1 kHz PWM / steady levels out, classified CP level in."""

    def set_output(self, output: PilotOutput) -> None: ...

    @property
    def output(self) -> PilotOutput: ...

    @property
    def duty_resolution_percent(self) -> float:
        """Smallest duty step the generator can really produce (0 = exact)."""

    def read(self) -> PilotReading:
        """The latest classified reading."""

    def subscribe(self, callback: Callable[[PilotReading], None]) -> Unsubscribe: ...


class ProximityPilot(Lifecycle, Protocol):
    """Type 2 PP: cable coding resistor -> cable current rating."""

    def read(self) -> ProximityReading: ...

    def subscribe(self, callback: Callable[[ProximityReading], None]) -> Unsubscribe: ...


class Contactor(Lifecycle, Protocol):
    """Main (or phase-switch) contactor with an optional mirror contact."""

    def close(self) -> None: ...

    def open(self) -> None: ...

    @property
    def commanded_closed(self) -> bool: ...

    @property
    def feedback_closed(self) -> bool | None:
        """State of the mirror contact, or None when the board has none."""

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Unsubscribe: ...


class ResidualCurrentMonitor(Lifecycle, Protocol):
    """RCM/RDC-DD (6 mA DC) fault input with a test output."""

    @property
    def tripped(self) -> bool: ...

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe: ...

    async def self_test(self) -> SelfTestResult: ...


class SocketLock(Lifecycle, Protocol):
    """Type 2 socket locking actuator with feedback."""

    async def lock(self) -> bool:
        """Drive to locked; True when the feedback confirms it."""

    async def unlock(self) -> bool: ...

    @property
    def locked(self) -> bool | None:
        """Feedback, or None when the lock has no sensor."""


class EnergyMeter(Lifecycle, Protocol):
    async def read(self) -> MeterReading:
        """Raises MeterError when the meter does not answer or answers garbage."""


@runtime_checkable
class SigningMeter(EnergyMeter, Protocol):
    """A meter that signs its readings (OCMF / Eichrecht, docs/reference/signed-metering.md): the charger
    writes the transaction's metadata, the meter signs a snapshot at begin and at end.

    `begin_transaction` returns the signed start snapshot, or None for meters that sign begin and end in
    one record at the end (EM580). `end_transaction` returns the record that proves the session. Both
    raise MeterError when the meter refuses or does not finish signing in time.

    `stored_end` is for a charger that died between asking for the end and reading it: the end record the
    meter still holds of its last transaction (waiting for the signature if it is still being made), or
    None while a transaction is open or when the meter holds no end record."""

    async def public_key(self) -> str:
        """Hex of the DER SubjectPublicKeyInfo, read from the meter."""

    async def begin_transaction(self, request: SignedTransactionRequest) -> SignedRecord | None: ...

    async def end_transaction(self) -> SignedRecord: ...

    async def stored_end(self) -> SignedRecord | None: ...


def signing_meter(meter: EnergyMeter) -> SigningMeter | None:
    return meter if isinstance(meter, SigningMeter) else None


class TemperatureSensor(Lifecycle, Protocol):
    async def read_celsius(self) -> float: ...


class TokenReader(Lifecycle, Protocol):
    """RFID/NFC reader: pushes each presented card UID (already formatted as configured)."""

    def subscribe(self, callback: Callable[[str], None]) -> Unsubscribe: ...


class DigitalInput(Lifecycle, Protocol):
    """A plain input: emergency stop, demand-response relay, door switch."""

    @property
    def active(self) -> bool: ...

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe: ...


class StatusIndicator(Lifecycle, Protocol):
    def show(self, state: IndicatorState) -> None: ...


@dataclass
class ConnectorHardware:
    """Everything one connector owns. Optional parts are None when the board lacks them."""

    connector_id: int
    pilot: ControlPilot
    contactor: Contactor
    meter: EnergyMeter
    proximity: ProximityPilot | None = None
    phase_switch: Contactor | None = None
    rcm: ResidualCurrentMonitor | None = None
    lock: SocketLock | None = None
    temperature: TemperatureSensor | None = None
    token_reader: TokenReader | None = None
    indicator: StatusIndicator | None = None
    # Started and stopped by the firmware's display service, not with the safety-relevant parts.
    display: DriverDisplay | None = None

    def parts(self) -> list[Lifecycle]:
        found: list[Lifecycle | None] = [
            self.pilot,
            self.contactor,
            self.meter,
            self.proximity,
            self.phase_switch,
            self.rcm,
            self.lock,
            self.temperature,
            self.token_reader,
            self.indicator,
        ]
        return [p for p in found if p is not None]


@dataclass
class StationHardware:
    connectors: list[ConnectorHardware]
    emergency_stop: DigitalInput | None = None
    demand_response: DigitalInput | None = None
    grid_meter: EnergyMeter | None = None
    token_reader: TokenReader | None = None

    def parts(self) -> list[Lifecycle]:
        found: list[Lifecycle | None] = [
            self.emergency_stop,
            self.demand_response,
            self.grid_meter,
            self.token_reader,
        ]
        parts = [p for p in found if p is not None]
        for connector in self.connectors:
            parts.extend(connector.parts())
        return parts
