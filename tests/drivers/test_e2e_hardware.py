"""The whole controller on the real drivers: gpiozero pins (MockFactory), the CP read through an emulated
MCP3008 on the mock SPI bus, hardware-style contactor with mirror contact, and an SDM630 emulated by a
pymodbus server on 127.0.0.1. A simulated car goes A -> B -> C -> B -> A and the session is recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockConnectedPin, MockFactory, MockPWMPin

from firmware.app import Application
from firmware.clock import SimClock
from firmware.core.events import CoreEvent, SessionStarted, SessionStopped
from firmware.settings import load_settings
from hal.meters.registermap import builtin_maps
from hal.types import PilotOutputMode
from tests.drivers.meter_emulator import EmulatedMeter, free_port, start_tcp_server
from tests.drivers.mock_adc import MockMcp3008

REF_V, LOW_V, HIGH_V = 5.0, 0.9, 4.55
COIL, MIRROR, PWM, ENABLE, RCM_FAULT, RCM_TEST, LED = 17, 27, 18, 23, 24, 25, 12


class ConnectedPwmPin(MockConnectedPin, MockPWMPin):  # type: ignore[misc]
    """The coil output wired (through the contactor) to the mirror-contact input."""


def adc_v(cp_v: float) -> float:
    return LOW_V + (cp_v + 12.0) / 24.0 * (HIGH_V - LOW_V)


def hal_config(meter_port: int) -> dict[str, object]:
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
            "port": meter_port,
            "model": "sdm630",
            "timeout_s": 1.0,
        },
        "rcm": {"driver": "gpio", "fault": RCM_FAULT, "test": RCM_TEST},
        "indicator": {"driver": "gpio", "led": LED},
        "lock": None,
        "temperature": None,
        "token_reader": None,
    }


async def wait_for(clock: SimClock, condition: Callable[[], bool], what: str, sim_step: float = 0.05) -> None:
    """Let the driver threads (real time) and the controller (simulated time) run until `condition`."""
    deadline = time.monotonic() + 10.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
        await clock.advance(sim_step)


async def test_controller_charges_a_car_on_the_hardware_drivers(tmp_path: Path) -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    from gpiozero import Device

    previous = Device.pin_factory
    Device.pin_factory = factory
    meter_port = free_port()
    emulated = EmulatedMeter(builtin_maps()["sdm630"], values={"energy_import": 100_000.0})
    server = await start_tcp_server([emulated], meter_port)
    app: Application | None = None
    try:
        mirror = factory.pin(MIRROR)
        mirror.drive_low()  # coil off: the mirror contact is closed
        factory.pin(COIL, pin_class=ConnectedPwmPin, input_pin=mirror)
        adc = MockMcp3008(REF_V, factory)
        adc.set_voltages(1, [REF_V * 220 / 1220])  # PP: 220 Ohm = 32 A cable
        car = {"level": 12.0}
        settings = load_settings(
            None, station={"state_dir": str(tmp_path)}, connectors=[{"id": 1, "hal": hal_config(meter_port)}]
        )
        clock = SimClock()
        app = Application(settings, clock=clock)
        pilot = app.hardware.connectors[0].pilot

        def cp_line() -> Sequence[float]:
            output = pilot.output
            if output.mode == PilotOutputMode.NEGATIVE:
                return [adc_v(-12.0)]
            if output.mode == PilotOutputMode.PWM and 0 < output.duty_percent < 100:
                return [adc_v(car["level"]), adc_v(-12.0)]
            return [adc_v(car["level"])]

        adc.set_source(0, cp_line)
        events: list[CoreEvent] = []
        app.station.subscribe(events.append)
        await app.start()
        connector = app.station.connector(1)
        coil = factory.pin(COIL)

        await wait_for(clock, lambda: connector.status.value == "Available", "Available")
        car["level"] = 9.0  # plugged in: state B
        await wait_for(clock, lambda: pilot.output.mode == PilotOutputMode.PWM, "PWM offer")
        assert pilot.output.duty_percent == pytest.approx(32 / 0.6, abs=0.01)
        assert factory.pin(PWM).state == pytest.approx(32 / 0.6 / 100, abs=1e-4)
        assert coil.state == 0

        car["level"] = 6.0  # the car asks for power: state C
        await wait_for(clock, lambda: bool(coil.state), "contactor closing")
        await wait_for(clock, lambda: connector.status.value == "Charging", "Charging")
        assert app.hardware.connectors[0].contactor.feedback_closed is True

        emulated.values.update({"current_l1": 31.8, "current_l2": 31.9, "current_l3": 31.7})
        emulated.values["energy_import"] += 1500.0  # the car draws energy
        await clock.advance(3.0)

        car["level"] = 9.0  # the car is full: C -> B, the contactor opens at once
        await wait_for(clock, lambda: not coil.state, "contactor opening", sim_step=0.0)
        car["level"] = 12.0  # unplugged
        await wait_for(clock, lambda: any(isinstance(e, SessionStopped) for e in events), "session end")
        started = next(e for e in events if isinstance(e, SessionStarted))
        stopped = next(e for e in events if isinstance(e, SessionStopped))
        assert started.meter_start_wh == pytest.approx(100_000.0)
        assert stopped.meter_stop_wh - started.meter_start_wh == pytest.approx(1500.0)
        assert stopped.reason.value == "EVDisconnected"
        assert emulated.requests > 0
    finally:
        if app is not None:
            await app.stop()
        await server.shutdown()
        factory.reset()
        Device.pin_factory = previous
