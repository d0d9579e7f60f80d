"""Builders for the real-hardware drivers, keyed by `driver` name and dispatched on the part; plugged into
hal.factory.DRIVERS. The pin factory is gpiozero's default (GPIOZERO_PIN_FACTORY; tests use MockFactory)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hal import config as cfg
from hal.errors import ConfigError
from hal.gpio.contactor import GpioContactor, WatchdogOutput
from hal.gpio.indicator import RgbIndicator, SingleLedIndicator
from hal.gpio.lock import GpioSocketLock
from hal.gpio.pins import DebouncedInput, InputSpec, OutputSpec
from hal.gpio.rcm import GpioRcm
from hal.meters.bus import BusRegistry, SerialLine
from hal.meters.em580_ocmf import Em580Ocmf
from hal.meters.iskra_wm3m4c import IskraWm3m4c
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.registermap import MeterMap, builtin_maps
from hal.pilot.adc import McpChannel
from hal.pilot.driver import AdcProximityPilot, HardwareControlPilot
from hal.pilot.measure import AdcPilotSampler, ComparatorPilotSampler, CpScaling, PilotMonitor, PilotSampler
from hal.pilot.output import GpioPwmLine, PilotGenerator, PwmLine, SysfsPwmLine
from hal.pilot.sysfs_pwm import SysfsPwm
from hal.rfid.hid_reader import HidTokenReader
from hal.rfid.serial_reader import SerialTokenReader
from hal.types import CPState

if TYPE_CHECKING:
    from hal.factory import BuildContext, ConnectorSetup


def output_spec(pin: cfg.OutputPin) -> OutputSpec:
    return OutputSpec(pin.pin, pin.active_high)


def input_spec(pin: cfg.InputPin) -> InputSpec:
    return InputSpec(pin.pin, pin.active_high, pin.pull)


def _where(connector: ConnectorSetup | None, part: str) -> str:
    return f"connectors[{connector.id}].hal.{part}" if connector else f"station.hal.{part}"


def _wrong(connector: ConnectorSetup | None, part: str, driver: str) -> ConfigError:
    return ConfigError(f"{_where(connector, part)}: driver {driver!r} does not drive a {part}")


def build_sampler(measure: cfg.AdcCpMeasure | cfg.ComparatorCpMeasure) -> PilotSampler:
    if isinstance(measure, cfg.AdcCpMeasure):
        channel = McpChannel(
            measure.adc_model, measure.channel, measure.reference_v, measure.spi_port, measure.spi_device
        )
        scaling = CpScaling(measure.adc_v_at_minus_12, measure.adc_v_at_plus_12)
        return AdcPilotSampler(channel, scaling, measure.burst_samples)
    levels = {
        CPState.A: input_spec(measure.a),
        CPState.B: input_spec(measure.b),
        CPState.C: input_spec(measure.c),
    }
    if measure.d is not None:
        levels[CPState.D] = input_spec(measure.d)
    return ComparatorPilotSampler(levels, input_spec(measure.negative) if measure.negative else None)


def build_pilot(ctx: BuildContext, config: cfg.SysfsPilot | cfg.GpioPilot) -> HardwareControlPilot:
    line: PwmLine
    if isinstance(config, cfg.SysfsPilot):
        line = SysfsPwmLine(SysfsPwm(ctx.clock, config.channel, config.chip, inverted=config.inverted))
    else:
        line = GpioPwmLine(
            config.pwm.pin, config.pwm.active_high, resolution_percent=config.duty_resolution_percent
        )
    enable = config.enable
    generator = PilotGenerator(line, enable.pin if enable else None, enable.active_high if enable else True)
    measure = config.measure
    interval_s = measure.interval_ms / 1000.0
    monitor = PilotMonitor(build_sampler(measure), lambda: generator.output, measure.confirm, interval_s)
    return HardwareControlPilot(generator, monitor, measure.confirm, interval_s)


def meter_map(config: cfg.ModbusRtuMeterConfig | cfg.ModbusTcpMeterConfig) -> MeterMap:
    if config.map is not None:
        return config.map
    assert config.model is not None  # the config validator demands one of the two
    return builtin_maps()[config.model.lower()]


def build_meter(
    ctx: BuildContext, config: cfg.ModbusRtuMeterConfig | cfg.ModbusTcpMeterConfig
) -> ModbusMeter | IskraWm3m4c:
    buses = ctx.shared.setdefault("modbus", BusRegistry(ctx.clock))
    assert isinstance(buses, BusRegistry)
    if isinstance(config, cfg.ModbusRtuMeterConfig):
        line = SerialLine(config.port, config.baudrate, config.parity, config.stopbits)
        try:
            bus = buses.serial(line, config.timeout_s, config.retries)
        except Exception as exc:
            raise ConfigError(str(exc)) from None
    else:
        bus = buses.tcp(config.host, config.port, config.timeout_s, config.retries)
    if config.ocmf and config.model is not None and config.model.lower() in cfg.SIGNING_ONLY_MODELS:
        return IskraWm3m4c(bus, config.device_id, ctx.clock, gateway="chargepi")
    if config.ocmf:
        return Em580Ocmf(bus, config.device_id, meter_map(config), ctx.clock)
    return ModbusMeter(bus, config.device_id, meter_map(config))


def build_gpio(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    clock = ctx.clock
    if isinstance(config, cfg.GpioPilot):
        return build_pilot(ctx, config)
    if isinstance(config, cfg.GpioContactorConfig):
        watchdog = None
        if config.watchdog is not None:
            watchdog = WatchdogOutput(output_spec(config.watchdog.pin), config.watchdog.frequency_hz)
        feedback = input_spec(config.feedback) if config.feedback else None
        return GpioContactor(
            output_spec(config.coil),
            clock,
            feedback,
            config.feedback_contact,
            watchdog,
            name=part.replace("_", " "),
        )
    if isinstance(config, cfg.GpioRcmConfig):
        test = output_spec(config.test) if config.test else None
        return GpioRcm(input_spec(config.fault), clock, test, config.trip_timeout_s, config.clear_timeout_s)
    if isinstance(config, cfg.GpioLockConfig):
        return GpioSocketLock(
            output_spec(config.lock),
            output_spec(config.unlock),
            clock,
            input_spec(config.feedback) if config.feedback else None,
            config.pulse_ms / 1000,
            config.settle_ms / 1000,
            config.attempts,
            config.retry_delay_s,
        )
    if isinstance(config, cfg.GpioInputConfig):
        return DebouncedInput(
            input_spec(config.input),
            clock,
            config.debounce_ms / 1000,
            name=part.replace("_", " "),
            immediate_activation=part == "emergency_stop",
        )
    if isinstance(config, cfg.GpioLedConfig):
        return SingleLedIndicator(output_spec(config.led))
    raise _wrong(connector, part, "gpio")


def _sysfs(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.SysfsPilot):
        return build_pilot(ctx, config)
    raise _wrong(connector, part, "sysfs")


def _rgb(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.GpioRgbLedConfig):
        return RgbIndicator(
            *(OutputSpec(p, config.active_high) for p in (config.red, config.green, config.blue))
        )
    raise _wrong(connector, part, "gpio-rgb")


def _adc(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.AdcProximity):
        channel = McpChannel(
            config.adc_model, config.channel, config.reference_v, config.spi_port, config.spi_device
        )
        supply = config.supply_v if config.supply_v is not None else config.reference_v
        return AdcProximityPilot(channel, supply, config.pull_up_ohm, config.interval_ms / 1000)
    raise _wrong(connector, part, "adc")


def _modbus(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.ModbusRtuMeterConfig | cfg.ModbusTcpMeterConfig):
        return build_meter(ctx, config)
    raise _wrong(connector, part, str(config.driver))


def _serial(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.SerialReaderConfig):
        uid = config.uid
        return SerialTokenReader(
            config.port, config.baudrate, ctx.clock, uid.case, uid.reverse_bytes, uid.debounce_s
        )
    raise _wrong(connector, part, "serial")


def _hid(ctx: BuildContext, connector: ConnectorSetup | None, part: str, config: Any) -> Any:
    if isinstance(config, cfg.HidReaderConfig):
        uid = config.uid
        return HidTokenReader(
            config.device, ctx.clock, config.digits, uid.case, uid.reverse_bytes, uid.debounce_s
        )
    raise _wrong(connector, part, "hid")


def _lcd(ctx: BuildContext, connector: Any, part: str, config: Any) -> Any:
    from hal.display_lcd import Hd44780Display

    return Hd44780Display(bus=config.bus, address=config.address, columns=config.columns, rows=config.rows,
                          charmap=config.charmap)


HARDWARE_DRIVERS = {
    "gpio": build_gpio,
    "sysfs": _sysfs,
    "gpio-rgb": _rgb,
    "adc": _adc,
    "modbus-rtu": _modbus,
    "modbus-tcp": _modbus,
    "serial": _serial,
    "hid": _hid,
    "hd44780-i2c": _lcd,
}
