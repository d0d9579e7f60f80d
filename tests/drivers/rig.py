"""Test support: a charger board on gpiozero's MockFactory. The coil output is wired to the mirror-contact
input, the RCM test output to the RCM fault input, an emulated MCP3008 shows the CP waveform the pilot
output and the car produce (channel 0) and a PP resistor (channel 1), and an SDM630 is emulated by a
pymodbus server on 127.0.0.1."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from gpiozero import Device
from gpiozero.pins.mock import MockConnectedPin, MockFactory, MockPWMPin

from hal.contract import ControlPilot
from hal.meters.registermap import builtin_maps
from hal.types import PilotOutputMode
from tests.drivers.meter_emulator import EmulatedMeter, free_port, start_tcp_server
from tests.drivers.mock_adc import MockMcp3008

REF_V, LOW_V, HIGH_V = 5.0, 0.9, 4.55
COIL, MIRROR, PWM, ENABLE, RCM_FAULT, RCM_TEST, LED = 17, 27, 18, 23, 24, 25, 12


class ConnectedPwmPin(MockConnectedPin, MockPWMPin):  # type: ignore[misc]
    """An output wired to an input (through the contactor, or through the RCM's test circuit)."""


def adc_v(cp_v: float) -> float:
    """The ADC pin voltage for a CP voltage (EVSE Pi Hat scaling: -12 V -> 0.9 V, +12 V -> 4.55 V)."""
    return LOW_V + (cp_v + 12.0) / 24.0 * (HIGH_V - LOW_V)


def serve_cp_line(adc: MockMcp3008, pilot: ControlPilot, car_level: Callable[[], float]) -> None:
    """Serve ADC channel 0 as the CP line: the pilot's output, its high side pulled to `car_level()` by
    the car's resistor (+12 V no car, +9 V B, +6 V C)."""

    def line() -> Sequence[float]:
        output = pilot.output
        if output.mode == PilotOutputMode.NEGATIVE:
            return [adc_v(-12.0)]
        if output.mode == PilotOutputMode.PWM and 0 < output.duty_percent < 100:
            return [adc_v(car_level()), adc_v(-12.0)]
        return [adc_v(car_level())]

    adc.set_source(0, line)


class Rig:
    def __init__(self, factory: MockFactory, adc: MockMcp3008, meter: EmulatedMeter, meter_port: int) -> None:
        self.pins = factory
        self.adc = adc
        self.meter = meter
        self.meter_port = meter_port
        self.meter_server: Any = None
        self.car_level = 12.0  # +12 no car, +9 B, +6 C

    async def start_meter(self) -> None:
        self.meter_server = await start_tcp_server([self.meter], self.meter_port)

    async def stop_meter(self) -> None:
        """The meter stops answering (power cut, broken bus)."""
        if self.meter_server is not None:
            await self.meter_server.shutdown()
            self.meter_server = None

    def hal_config(self) -> dict[str, Any]:
        return {
            "pilot": {
                "driver": "gpio",
                "pwm": PWM,
                "enable": ENABLE,
                "measure": {
                    "type": "adc",
                    "adc_model": "MCP3008",
                    "channel": 0,
                    "reference_v": REF_V,
                    "adc_v_at_minus_12": LOW_V,
                    "adc_v_at_plus_12": HIGH_V,
                    "burst_samples": 6,
                    "interval_ms": 2,
                },
            },
            "proximity": {
                "driver": "adc",
                "adc_model": "MCP3008",
                "channel": 1,
                "reference_v": REF_V,
                "pull_up_ohm": 1000,
            },
            # NC mirror contact to ground, external pull-up: high = mirror open = main contacts closed
            "contactor": {"driver": "gpio", "coil": COIL, "feedback": {"pin": MIRROR, "active_high": False}},
            "meter": {
                "driver": "modbus-tcp",
                "host": "127.0.0.1",
                "port": self.meter_port,
                "model": "sdm630",
                "timeout_s": 1.0,
            },
            "rcm": {"driver": "gpio", "fault": RCM_FAULT, "test": RCM_TEST, "trip_timeout_s": 1.0},
            "indicator": {"driver": "gpio", "led": LED},
            "lock": None,
            "temperature": None,
            "token_reader": None,
        }

    def attach_pilot(self, pilot: ControlPilot) -> None:
        """Serve the CP line as the generator output and the car's resistor make it."""
        serve_cp_line(self.adc, pilot, lambda: self.car_level)


@asynccontextmanager
async def hardware_rig() -> AsyncIterator[Rig]:
    previous = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    meter = EmulatedMeter(
        builtin_maps()["sdm630"],
        values={"energy_import": 100_000.0, "voltage_l1": 230.0, "voltage_l2": 231.0, "voltage_l3": 229.0},
    )
    mirror = factory.pin(MIRROR)
    mirror.drive_low()  # coil off: the mirror contact is closed
    factory.pin(COIL, pin_class=ConnectedPwmPin, input_pin=mirror)
    fault = factory.pin(RCM_FAULT)
    fault.drive_low()
    factory.pin(RCM_TEST, pin_class=ConnectedPwmPin, input_pin=fault)
    adc = MockMcp3008(REF_V, factory)
    adc.set_voltages(1, [REF_V * 220 / 1220])  # PP: 220 Ohm = 32 A cable
    adc.set_voltages(0, [adc_v(12.0)])
    rig = Rig(factory, adc, meter, free_port())
    try:
        await rig.start_meter()
        yield rig
    finally:
        await rig.stop_meter()
        factory.reset()
        Device.pin_factory = previous
        gc.collect()  # gpiozero caches shared SPI buses by pin in weak references: drop this rig's
