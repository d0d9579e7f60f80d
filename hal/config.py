"""Configuration models for choosing and setting up a driver per hardware part (by name).

Each part is a discriminated union on `driver`: "fake" (hal.fake, the simulation) or a real driver with
its pins and options. Bad values fail at start with the key, the value and what is allowed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hal.meters.registermap import MeterMap, builtin_model_names

# Pins: BCM numbers, or any name gpiozero understands (GPIO17, BCM17, BOARD11, J8:11).
_PIN_NAME = re.compile(r"^(GPIO|BCM)([0-9]|1[0-9]|2[0-7])$|^(BOARD|J8:)([1-9]|[1-3][0-9]|40)$", re.IGNORECASE)
PIN_HELP = "BCM number 0-27 or a name like GPIO17, BCM17, BOARD11, J8:11"


def _check_pin(value: int | str) -> int | str:
    if isinstance(value, int):
        if not 0 <= value <= 27:
            raise ValueError(f"pin {value} does not exist; allowed: {PIN_HELP}")
        return value
    if not _PIN_NAME.match(value):
        raise ValueError(f"pin {value!r} is not a valid pin name; allowed: {PIN_HELP}")
    return value.upper()


Pin = Annotated[int | str, AfterValidator(_check_pin)]


def _int_from_text(value: Any) -> Any:
    """Environment overrides arrive as text: "3" for a numeric choice means 3."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


IntFromText = BeforeValidator(_int_from_text)  # for Literal[1, 3]-style numeric choices

# Every `driver` / `type` tag below; no field is named like one (config errors drop tags from keys).
DRIVER_TAGS = frozenset(
    {"fake", "sysfs", "gpio", "gpio-rgb", "adc", "comparator", "modbus-rtu", "modbus-tcp", "serial", "hid"}
)
AdcModel = Literal["MCP3002", "MCP3004", "MCP3008", "MCP3202", "MCP3204", "MCP3208"]


class DriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakeDriver(DriverConfig):
    """The simulated part (see hal.fake): for tests, demos and CI."""

    driver: Literal["fake"] = "fake"


class _PinShorthand(DriverConfig):
    """Accepts `pin = 17` (just the pin) or a table `{ pin = 17, active_high = false, ... }`."""

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        return {"pin": value} if isinstance(value, int | str) else value


class OutputPin(_PinShorthand):
    pin: Pin
    active_high: bool = True


class InputPin(_PinShorthand):
    pin: Pin
    active_high: bool = True
    pull: Literal["up", "down", "none"] = "none"


# --- control pilot ---------------------------------------------------------------------------------


class AdcCpMeasure(DriverConfig):
    """CP read through an MCP3xxx channel: bursts of conversions, positive and negative peaks."""

    type: Literal["adc"] = "adc"
    adc_model: AdcModel = "MCP3004"
    channel: int = Field(0, ge=0, le=7)
    spi_port: int = Field(0, ge=0, le=1)
    spi_device: int = Field(0, ge=0, le=2)
    reference_v: float = Field(3.3, gt=0, le=5.5)
    # Calibration: volts at the ADC pin when the CP is at -12 V and at +12 V (EVSE Pi Hat: 0.9 / 4.55 V).
    adc_v_at_minus_12: float = Field(ge=0)
    adc_v_at_plus_12: float = Field(gt=0)
    burst_samples: int = Field(64, ge=4, le=2000)
    interval_ms: float = Field(5.0, ge=1, le=25)
    confirm: int = Field(2, ge=1, le=5)

    @model_validator(mode="after")
    def _check(self) -> AdcCpMeasure:
        if self.adc_v_at_plus_12 <= self.adc_v_at_minus_12:
            raise ValueError("adc_v_at_plus_12 must be above adc_v_at_minus_12")
        if max(self.adc_v_at_plus_12, self.adc_v_at_minus_12) > self.reference_v:
            raise ValueError("calibration voltages must lie within 0..reference_v")
        if self.confirm * self.interval_ms > 50:
            raise ValueError("confirm * interval_ms must not exceed 50 ms (IEC 61851-1 detection budget)")
        return self


class ComparatorCpMeasure(DriverConfig):
    """CP state from comparator inputs (each active while the CP peak is above its threshold)."""

    type: Literal["comparator"] = "comparator"
    a: InputPin  # above ~10.5 V
    b: InputPin  # above ~7.5 V
    c: InputPin  # above ~4.5 V
    d: InputPin | None = None  # above ~1.5 V (boards without it report D as E)
    negative: InputPin | None = None  # active while the negative peak is below ~-10.5 V (diode check)
    interval_ms: float = Field(5.0, ge=1, le=25)
    confirm: int = Field(2, ge=1, le=5)

    @model_validator(mode="after")
    def _check(self) -> ComparatorCpMeasure:
        if self.confirm * self.interval_ms > 50:
            raise ValueError("confirm * interval_ms must not exceed 50 ms (IEC 61851-1 detection budget)")
        return self


CpMeasure = Annotated[AdcCpMeasure | ComparatorCpMeasure, Field(discriminator="type")]


class SysfsPilot(DriverConfig):
    """Hardware PWM through /sys/class/pwm (needs dtoverlay=pwm or pwm-2chan)."""

    driver: Literal["sysfs"]
    chip: int | None = Field(None, ge=0, le=16)  # None: the first chip that has `channel`
    channel: int = Field(0, ge=0, le=3)
    inverted: bool = False  # the +/-12 V stage inverts (PWM line high = -12 V)
    enable: OutputPin | None = None  # switches the CP stage on; without it "off" shows -12 V
    measure: CpMeasure


class GpioPilot(DriverConfig):
    """Software PWM through gpiozero (boards without hardware PWM). Duty rounded down to what it can do."""

    driver: Literal["gpio"]
    pwm: OutputPin
    duty_resolution_percent: float | None = Field(None, ge=0, le=5)  # None: from the pin factory
    enable: OutputPin | None = None
    measure: CpMeasure


PilotConfig = Annotated[FakeDriver | SysfsPilot | GpioPilot, Field(discriminator="driver")]


class AdcProximity(DriverConfig):
    """PP through a pull-up to `supply_v` into an MCP3xxx channel."""

    driver: Literal["adc"]
    adc_model: AdcModel = "MCP3004"
    channel: int = Field(1, ge=0, le=7)
    spi_port: int = Field(0, ge=0, le=1)
    spi_device: int = Field(0, ge=0, le=2)
    reference_v: float = Field(3.3, gt=0, le=5.5)
    supply_v: float | None = Field(None, gt=0, le=5.5)  # None: same as reference_v
    pull_up_ohm: float = Field(1000.0, gt=0)
    interval_ms: float = Field(500.0, ge=50, le=5000)


ProximityConfig = Annotated[FakeDriver | AdcProximity, Field(discriminator="driver")]


# --- relays and inputs -----------------------------------------------------------------------------


class Watchdog(DriverConfig):
    """Hardware relay watchdog: a square wave that must keep running for the contactor to stay closed."""

    pin: OutputPin
    frequency_hz: float = Field(1000.0, ge=1, le=10000)


class GpioContactorConfig(DriverConfig):
    driver: Literal["gpio"]
    coil: OutputPin
    feedback: InputPin | None = None
    feedback_contact: Literal["nc", "no"] = (
        "nc"  # nc = mirror contact (closed while the main contacts are open)
    )
    watchdog: Watchdog | None = None


ContactorConfig = Annotated[FakeDriver | GpioContactorConfig, Field(discriminator="driver")]


class GpioRcmConfig(DriverConfig):
    driver: Literal["gpio"]
    fault: InputPin
    test: OutputPin | None = None
    trip_timeout_s: float = Field(15.0, gt=0, le=60)
    clear_timeout_s: float = Field(2.0, gt=0, le=60)


RcmConfig = Annotated[FakeDriver | GpioRcmConfig, Field(discriminator="driver")]


class GpioLockConfig(DriverConfig):
    driver: Literal["gpio"]
    lock: OutputPin  # H-bridge input driving towards "locked"
    unlock: OutputPin
    feedback: InputPin | None = None  # active while locked
    pulse_ms: int = Field(600, ge=50, le=5000)
    settle_ms: int = Field(200, ge=0, le=5000)
    attempts: int = Field(3, ge=1, le=10)
    retry_delay_s: float = Field(1.0, ge=0, le=30)


LockConfig = Annotated[FakeDriver | GpioLockConfig, Field(discriminator="driver")]


class GpioInputConfig(DriverConfig):
    driver: Literal["gpio"]
    input: InputPin
    debounce_ms: float = Field(20.0, ge=0, le=1000)


InputConfig = Annotated[FakeDriver | GpioInputConfig, Field(discriminator="driver")]


class GpioLedConfig(DriverConfig):
    driver: Literal["gpio"]
    led: OutputPin


class GpioRgbLedConfig(DriverConfig):
    driver: Literal["gpio-rgb"]
    red: Pin
    green: Pin
    blue: Pin
    active_high: bool = True


IndicatorConfig = Annotated[FakeDriver | GpioLedConfig | GpioRgbLedConfig, Field(discriminator="driver")]


# --- RFID ------------------------------------------------------------------------------------------


class UidFormat(DriverConfig):
    """How a card UID is written before it reaches the core (and the CSMS)."""

    case: Literal["upper", "lower"] = "upper"
    reverse_bytes: bool = False  # some readers send the UID least significant byte first
    debounce_s: float = Field(2.0, ge=0, le=60)  # the same card again within this time is ignored


class SerialReaderConfig(DriverConfig):
    """Readers that send each UID as a line of text (hex, optionally with separators or a prefix)."""

    driver: Literal["serial"]
    port: str
    baudrate: int = Field(9600, ge=300, le=921600)
    uid: UidFormat = Field(default_factory=lambda: UidFormat())


class HidReaderConfig(DriverConfig):
    """USB "keyboard" readers: /dev/input/eventN (better a /dev/input/by-id/... link)."""

    driver: Literal["hid"]
    device: str
    digits: Literal["hex", "decimal"] = "hex"  # what the reader types
    uid: UidFormat = Field(default_factory=lambda: UidFormat())


TokenReaderConfig = Annotated[
    FakeDriver | SerialReaderConfig | HidReaderConfig, Field(discriminator="driver")
]


# --- meters ----------------------------------------------------------------------------------------

# Meters that sign OCMF (docs/signed-metering.md); the Iskra has no register map of its own (T5/T6 formats).
SIGNING_ONLY_MODELS = ("iskra-wm3m4c", "wm3m4c")
SIGNING_MODELS = (*SIGNING_ONLY_MODELS, "em580")


class _ModbusMeter(DriverConfig):
    device_id: int = Field(1, ge=1, le=247)
    model: str | None = None  # a packaged map, e.g. "sdm630"
    map: MeterMap | None = None  # or a map given inline (same fields as the files in hal/meters/maps)
    timeout_s: float = Field(1.0, gt=0, le=10)
    retries: int = Field(2, ge=0, le=5)
    # Signed (OCMF) readings at session begin and end; "iskra-wm3m4c" always signs, "em580" with this on.
    ocmf: bool = False

    @model_validator(mode="after")
    def _one_map(self) -> _ModbusMeter:
        if (self.model is None) == (self.map is None):
            raise ValueError("give exactly one of `model` (a packaged map) or `map` (an inline map)")
        allowed = [*builtin_model_names(), *SIGNING_ONLY_MODELS]
        if self.model is not None and self.model.lower() not in allowed:
            raise ValueError(f"unknown meter model {self.model!r}; allowed: {', '.join(sorted(allowed))}")
        if self.model is not None and self.model.lower() in SIGNING_ONLY_MODELS:
            self.ocmf = True
        if self.ocmf and (self.model is None or self.model.lower() not in SIGNING_MODELS):
            raise ValueError(f"`ocmf = true` needs a signing meter model: {', '.join(SIGNING_MODELS)}")
        return self


class ModbusRtuMeterConfig(_ModbusMeter):
    driver: Literal["modbus-rtu"]
    port: str
    baudrate: int = Field(9600, ge=1200, le=115200)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Annotated[Literal[1, 2], IntFromText] = 1


class ModbusTcpMeterConfig(_ModbusMeter):
    driver: Literal["modbus-tcp"]
    host: str
    port: int = Field(502, ge=1, le=65535)


class FakeMeterConfig(FakeDriver):
    """The simulated meter; `ocmf = true` makes it sign its readings with a public TEST key, each end
    signature taking `sign_time_s` (real meters take up to 30 s)."""

    ocmf: bool = False
    sign_time_s: float = Field(0.0, ge=0.0, le=30.0)


MeterConfig = Annotated[
    FakeMeterConfig | ModbusRtuMeterConfig | ModbusTcpMeterConfig, Field(discriminator="driver")
]


# --- driver display -------------------------------------------------------------------------------


class Hd44780Config(DriverConfig):
    """A character LCD (HD44780) behind a PCF8574 I2C backpack (hal/display_lcd.py)."""

    driver: Literal["hd44780-i2c"]
    bus: int = Field(1, ge=0, le=20)  # /dev/i2c-<bus>
    address: int = Field(0x27, ge=0x03, le=0x77)  # 0x27 or 0x3F on most backpacks
    columns: Literal[16, 20] = 20
    rows: Annotated[Literal[2, 4], IntFromText] = 4
    charmap: Literal["A00", "A02"] = "A00"  # the LCD's character ROM: A00 (Japanese/European), A02


DisplayConfig = Annotated[FakeDriver | Hd44780Config, Field(discriminator="driver")]


# --- bundles -----------------------------------------------------------------------------------------


def _none_to_null(values: Any) -> Any:
    """TOML has no null: an optional part may be written as `part = "none"` (or `{ driver = "none" }`)."""
    if isinstance(values, dict):
        return {
            k: None if v == "none" or (isinstance(v, dict) and v.get("driver") == "none") else v
            for k, v in values.items()
        }
    return values


class ConnectorHalConfig(DriverConfig):
    """Which driver runs each part of one connector. Optional parts may be "none".

    With the simulated pilot every unlisted part is simulated too; with a real pilot an unlisted
    optional part is absent, so a real charger never runs with a simulated RCM or lock by accident."""

    pilot: PilotConfig = Field(default_factory=FakeDriver)
    contactor: ContactorConfig = Field(default_factory=FakeDriver)
    meter: MeterConfig = Field(default_factory=FakeMeterConfig)
    proximity: ProximityConfig | None = Field(default_factory=FakeDriver)
    rcm: RcmConfig | None = Field(default_factory=FakeDriver)
    lock: LockConfig | None = Field(default_factory=FakeDriver)
    temperature: FakeDriver | None = Field(default_factory=FakeDriver)
    token_reader: TokenReaderConfig | None = Field(default_factory=FakeDriver)
    indicator: IndicatorConfig | None = Field(default_factory=FakeDriver)
    phase_switch: ContactorConfig | None = None
    display: DisplayConfig | None = None  # the driver display (status, price, cost); none by default

    @model_validator(mode="before")
    @classmethod
    def _none(cls, values: Any) -> Any:
        return _none_to_null(values)

    @model_validator(mode="after")
    def _real_board_has_no_implicit_fakes(self) -> ConnectorHalConfig:
        if self.pilot.driver != "fake":
            for name in ("proximity", "rcm", "lock", "temperature", "token_reader", "indicator"):
                if name not in self.model_fields_set:
                    setattr(self, name, None)
        return self


class StationHalConfig(DriverConfig):
    emergency_stop: InputConfig | None = None
    demand_response: InputConfig | None = None
    grid_meter: MeterConfig | None = None
    # Fake HAL: keep the simulated world (meter register, car, faults) across restarts in <state_dir>/sim
    # (hal/fake/persistence.py); false starts every run with a new world.
    sim_persist: bool = True
    # Fake HAL: how long the simulated car takes to follow a pilot change (IEC 61851-1 allows up to 5 s).
    sim_ev_reaction_s: float = Field(1.0, ge=0, le=5)

    @model_validator(mode="before")
    @classmethod
    def _none(cls, values: Any) -> Any:
        return _none_to_null(values)
