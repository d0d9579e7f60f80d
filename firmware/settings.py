"""Settings: a TOML file plus CHARGEPI_* environment overrides (nested with `__`), validated at start.

`load_settings(path)` is the only entry point. A bad value raises `ConfigError` whose message names the key,
the bad value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from firmware import __version__
from firmware.config_paths import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
from firmware.config_paths import SECRETS_FILE_NAME as SECRETS_FILE_NAME
from firmware.config_paths import ConfigError as ConfigError
from firmware.config_paths import default_config_path as default_config_path
from firmware.config_paths import secrets_path as secrets_path
from firmware.control.roles import ControlSettings
from firmware.ocpp.catalogue import check_device_model
from firmware.ocpp.settings import OcppSettings
from firmware.smart.settings import (
    DemandResponseSettings,
    LoadManagementSettings,
    SmartChargingSettings,
    check_smart_hardware,
)
from hal.config import DRIVER_TAGS, ConnectorHalConfig, IntFromText, StationHalConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationSettings(Section):
    vendor: str = Field(
        "chargepi", max_length=20,
        description="Charge point vendor, sent in BootNotification.")
    model: str = Field(
        "chargepi-ac", max_length=20,
        description="Charge point model, sent in BootNotification.")
    serial_number: str = Field(
        "CP-0001", max_length=25,
        description="Serial number (type plate), sent in BootNotification.")
    firmware_version: str = Field(
        __version__, max_length=50,
        description="Firmware version reported in BootNotification (default: the installed chargepi "
                    "version).")
    state_dir: Path = Field(
        Path("/var/lib/chargepi"),
        description="Where the controller keeps its state: SQLite session records, core journal, OCPP "
                    "queue, profiles, events.")
    control_socket: Path | None = Field(
        None,
        description="Unix socket the `chargepi` command uses to reach the controller (default: "
                    "<state_dir>/control.sock).")
    free_charging: bool = Field(
        False,
        description="With an [ocpp] section: charge without a token anyway (without [ocpp] charging is "
                    "always free).")
    connection_timeout_s: float = Field(
        60.0, gt=0,
        description="An authorized token waits this long for the cable to be plugged in; with [ocpp] the "
                    "default of ConnectionTimeOut, which the CSMS may change.")
    power_loss_policy: Literal["stop", "resume"] = Field(
        "stop",
        description="After a power cut during a session: `stop` ends it (PowerLoss, last journaled meter "
                    "value), `resume` continues it if the car is still plugged in.")
    storage_reserve_mb: float = Field(
        8.0, ge=0, le=1024,
        description="Space (MB) kept free in state_dir for essential records (transactions, queued OCPP "
                    "messages, journal); released when the disk fills (docs/durability.md).")
    meter_poll_interval_s: float = Field(
        1.0, gt=0, le=60,
        description="How often the meter is read (over-current check, status, meter values).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Log level when [logging] level is not set.")
    supervisor: Literal["process", "inline"] = Field(
        "process",
        description="Where the safety interlock runs under `chargepi run`: `process` = the safety "
                    "supervisor, a process of its own; `inline` = in the controller process "
                    "(docs/safety-supervisor.md).")
    supervisor_watchdog_s: float = Field(
        0.08, ge=0.02, le=10.0,
        description="While a contactor is closed, the supervisor opens it when the controller's heartbeat "
                    "(every quarter of this) is missing this long: the controller process is stopped or "
                    "hung (docs/safety-supervisor.md).")
    supervisor_loop_watchdog_s: float = Field(
        2.0, ge=0.1, le=60.0,
        description="The controller withholds its heartbeat (so the supervisor opens) when its event loop "
                    "has not run this long.")
    supervisor_rt_priority: int = Field(
        0, ge=0, le=99,
        description="SCHED_FIFO real-time priority of the supervisor process; 0 = off.")
    hal: StationHalConfig = Field(default_factory=StationHalConfig)

    @property
    def socket_path(self) -> Path:
        return self.control_socket or self.state_dir / "control.sock"


class TemperatureDerating(Section):
    """Derating steps (OpenEVSE open_evse.h defaults, docs/reference/hardware.md §4.4): >= half_c -> 50 %,
    >= quarter_c -> 25 % (never below 6 A), >= stop_c -> stop (HighTemperature); all clear below restore_c."""

    half_c: float = Field(
        65.0,
        description="At or above this temperature the offered current is halved.")
    quarter_c: float = Field(
        68.0,
        description="At or above this temperature the offered current is quartered (never below 6 A).")
    stop_c: float = Field(
        71.0,
        description="At or above this temperature charging stops (fault over-temperature).")
    restore_c: float = Field(
        62.0,
        description="Below this temperature every derating step is lifted.")
    poll_interval_s: float = Field(
        5.0, gt=0,
        description="How often the temperature sensor is read.")

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureDerating:
        if not self.restore_c < self.half_c <= self.quarter_c <= self.stop_c:
            raise ValueError("need restore_c < half_c <= quarter_c <= stop_c")
        return self


class ConnectorSettings(Section):
    id: int = Field(
        ge=1, le=16,
        description="Connector number, 1..N without gaps (the OCPP connectorId).")
    rated_current_a: float = Field(
        32.0, ge=6, le=80,
        description="What the connector's hardware is built for, in A (limit source `hardware`).")
    max_current_a: float | None = Field(
        None, ge=6, le=80,
        description="The installer's limit (breaker, supply cable), in A (limit source `configured`).")
    phases: Annotated[Literal[1, 3], IntFromText] = Field(
        3,
        description="Phases wired to the connector: 1 or 3.")
    nominal_voltage_v: float = Field(
        230.0, ge=100, le=480,
        description="Phase voltage for W <-> A conversion while no voltage is measured.")
    cable: Literal["socket", "tethered"] = Field(
        "socket",
        description="`socket` (the PP resistor of the plugged cable sets the `cable` limit) or `tethered` "
                    "(fixed cable).")
    tethered_cable_current_a: float = Field(
        32.0, ge=6, le=80,
        description="Current rating of a tethered cable (limit source `cable`).")
    ventilation: bool = Field(
        False,
        description="Allow charging in state D (the car asks for ventilation and it is provided).")
    state_f_after_fault_ms: int = Field(
        300, ge=0, le=5000,
        description="How long the pilot shows state F after a fault (IEC 61851-1 Table A.5 minimum: 300 "
                    "ms).")
    temperature: TemperatureDerating = Field(default_factory=lambda: TemperatureDerating())
    hal: ConnectorHalConfig = Field(default_factory=ConnectorHalConfig)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LoggingSettings(Section):
    """Log output (stderr, captured by the journal). See firmware/logging_setup.py."""

    level: LogLevel | None = Field(
        None,
        description="Log level (default: station.log_level).")
    format: Literal["logfmt", "json"] = Field(
        "logfmt",
        description="`logfmt` (key=value) or `json`, one line per record.")
    components: dict[str, LogLevel] = Field(
        default_factory=dict,
        description="Level per component, e.g. ocpp = \"DEBUG\": sets the loggers firmware.<name> and the "
                    "library logger <name> (pymodbus, websockets, events, ...).")


class SessionSettings(Section):
    """Local session records (<state_dir>/sessions.sqlite, see firmware/sessions/)."""

    enabled: bool = Field(
        True,
        description="Keep local session records (<state_dir>/sessions.sqlite) for `chargepi sessions` and "
                    "`chargepi report`.")
    retention_days: int = Field(
        365, ge=1, le=3650,
        description="Session records older than this are pruned daily.")
    checkpoint_minutes: float = Field(
        5.0, ge=1, le=60,
        description="A running session's progress is saved this often (and at start and stop).")


class DisplaySettings(Section):
    """The driver display (a connector's `[connectors.hal] display`, see firmware/display/)."""

    language: Literal["en", "de", "fr", "nl"] = Field(
        "en", description="Language of the display's texts; a CSMS price text in this language is preferred.")
    currency: str = Field(
        "", max_length=5, description="Shown before costs, e.g. EUR (the CSMS's cost messages carry none).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHARGEPI_", env_nested_delimiter="__", extra="forbid", case_sensitive=False,
    )

    station: StationSettings = Field(default_factory=lambda: StationSettings())
    connectors: list[ConnectorSettings] = Field(
        default_factory=lambda: [ConnectorSettings.model_validate({"id": 1})])
    ocpp: OcppSettings | None = None  # no [ocpp] section: standalone free charging
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    control: ControlSettings = Field(default_factory=lambda: ControlSettings())  # roles on the socket
    sessions: SessionSettings = Field(default_factory=lambda: SessionSettings())
    display: DisplaySettings = Field(default_factory=lambda: DisplaySettings())
    smart_charging: SmartChargingSettings = Field(default_factory=lambda: SmartChargingSettings())
    load_management: LoadManagementSettings = Field(default_factory=lambda: LoadManagementSettings())
    demand_response: DemandResponseSettings = Field(default_factory=lambda: DemandResponseSettings())

    @model_validator(mode="after")
    def _smart_hardware(self) -> Settings:
        check_smart_hardware(self)
        return self

    @model_validator(mode="after")
    def _device_model_presets(self) -> Settings:
        # Only a config with presets pays for the 2.0.1 device model (about 20 ms of imports at every
        # start and every CLI call otherwise).
        if self.ocpp is not None and self.ocpp.device_model and self._connector_ids_ok():
            check_device_model(self)
        return self

    def _connector_ids_ok(self) -> bool:
        return sorted(c.id for c in self.connectors) == list(range(1, len(self.connectors) + 1))

    @model_validator(mode="after")
    def _unique_connectors(self) -> Settings:
        ids = [c.id for c in self.connectors]
        if not ids:
            raise ValueError("at least one [[connectors]] entry is needed")
        if sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError(f"connector ids must be 1..{len(ids)} without gaps or repeats, got {ids}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get("path")
        secrets_file = _CONFIG_FILE.get("secrets")
        layers: list[PydanticBaseSettingsSource] = []  # lowest precedence first
        if toml_file is not None:
            layers.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        if secrets_file is not None:  # merged over the config file, table by table
            layers.append(TomlConfigSettingsSource(settings_cls, toml_file=secrets_file))
        layers += [env_settings, init_settings]
        return (LayeredSource(settings_cls, layers),)


class LayeredSource(PydanticBaseSettingsSource):
    """File < secrets file < environment < explicit arguments, merged key by key.

    Unlike pydantic-settings' own merge, a list of tables can be overridden per entry by its position,
    as the environment spells it: `CHARGEPI_CONNECTORS__0__MAX_CURRENT_A=16` changes the first
    `[[connectors]]` table of the file and keeps the rest (position = length appends an entry)."""

    def __init__(self, settings_cls: type[BaseSettings], layers: list[PydanticBaseSettingsSource]):
        super().__init__(settings_cls)
        self.layers = layers

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ merges whole layers

    def __call__(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():  # lists of tables: their defaults
            default = field.get_default(call_default_factory=True)
            if isinstance(default, list) and default and all(isinstance(x, BaseModel) for x in default):
                merged[name] = [x.model_dump(exclude_unset=True) for x in default]
        for layer in self.layers:
            merged = _merge(merged, layer(), "")
        return merged


def _merge(base: Any, over: Any, key: str) -> Any:
    if isinstance(over, dict) and isinstance(base, dict):
        out = dict(base)
        for name, value in over.items():
            out[name] = _merge(base.get(name), value, f"{key}.{name}" if key else name)
        return out
    positional = isinstance(over, dict) and over and all(isinstance(k, str) and k.isdigit() for k in over)
    if positional and (base is None or isinstance(base, list)):
        out_list = list(base or [])
        for index in sorted(over, key=int):
            position = int(index)
            if position < len(out_list):
                out_list[position] = _merge(out_list[position], over[index], f"{key}.{index}")
            elif position == len(out_list):
                out_list.append(over[index])
            else:
                raise ConfigError(f"{key}.{index}: there are only {len(out_list)} entries, so the next "
                                  f"one is {key}.{len(out_list)} (positions count from 0)")
        return out_list
    return over


_CONFIG_FILE: dict[str, Path | None] = {"path": None, "secrets": None}


def load_settings(path: Path | None, secrets: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file at `path` (None: environment and defaults only) with the credentials file
    merged over it (`secrets`, default: `secrets_path(path)`), then environment overrides."""
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    _CONFIG_FILE["path"] = path
    _CONFIG_FILE["secrets"] = secrets if secrets is not None else secrets_path(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path)) from None
    except ValueError as exc:  # TOML syntax errors
        where = f"{path} or {_CONFIG_FILE['secrets']}" if _CONFIG_FILE["secrets"] else f"{path}"
        raise ConfigError(f"{where}: {exc}") from None
    finally:
        _CONFIG_FILE["path"] = _CONFIG_FILE["secrets"] = None


def _allowed(error: Any) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if "expected" in ctx:
        return f"allowed: {ctx['expected']}"
    bounds = {
        "greater_than": "> {gt}", "greater_than_equal": ">= {ge}",
        "less_than": "< {lt}", "less_than_equal": "<= {le}",
        "string_too_long": "at most {max_length} characters",
        "string_too_short": "at least {min_length} character(s)",
        "too_short": "at least {min_length} item(s)",
    }
    if kind in bounds:
        return "allowed: " + bounds[kind].format(**ctx)
    if kind == "extra_forbidden":
        return "not a known setting (check the spelling; see `chargepi config schema`)"
    if kind == "missing":
        return "this setting is required"
    if kind in PLAIN_WORDS:
        return PLAIN_WORDS[kind]
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}"
    return str(error["msg"]).removeprefix("Input should be ")


# pydantic's error types, in the words of someone editing a TOML file.
PLAIN_WORDS = {
    "bool_parsing": "allowed: true or false", "bool_type": "allowed: true or false",
    "int_parsing": "allowed: a whole number", "int_type": "allowed: a whole number",
    "int_from_float": "allowed: a whole number",
    "float_parsing": "allowed: a number", "float_type": "allowed: a number",
    "string_type": 'allowed: text in quotes ("...")',
    "list_type": "allowed: a list ([...], or [[...]] tables)",
    "dict_type": "allowed: a table ([section] or { key = value })",
    "model_type": "allowed: a table ([section] or { key = value })",
    "model_attributes_type": "allowed: a table ([section] or { key = value })",
    "path_type": 'allowed: a file path in quotes ("/etc/...")',
}


def format_validation_error(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "configuration"
    lines = [f"{where}: {exc.error_count()} invalid setting(s)"]
    for error in exc.errors():
        # Discriminated unions (hal driver configs) put the chosen tag into the location; drop it.
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p in DRIVER_TAGS)]
        key = ".".join(str(p) for p in loc) or "(top level)"
        value = error.get("input")
        shown = "(missing)" if error["type"] == "missing" else repr(value)
        if isinstance(value, dict) and error["type"] != "missing":
            shown = "{...}"
        detail = _allowed(error)
        msg = error["msg"]
        if error["type"] in ("value_error", "assertion_error"):
            detail = msg.removeprefix("Value error, ")
        if error["type"] == "union_tag_invalid":
            ctx = error.get("ctx") or {}
            key += "." + str(ctx.get("discriminator", "driver")).strip("'")
            shown = repr(ctx.get("tag"))
            detail = f"allowed: {ctx.get('expected_tags')}"
        lines.append(f"  {key} = {shown}: {detail}")
    return "\n".join(lines)
