"""The whole controller on the real drivers: gpiozero pins (MockFactory), the CP read through an emulated
MCP3008 on the mock SPI bus, a contactor with mirror contact, and an SDM630 emulated by a pymodbus server.
A simulated car goes A -> B -> C -> B -> A and the session and its energy are recorded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.app import Application
from firmware.core.events import CoreEvent, SessionStarted, SessionStopped
from firmware.core.published import status_label
from firmware.settings import load_settings
from hal.clock import SimClock
from hal.types import PilotOutputMode
from tests.drivers.rig import COIL, PWM, hardware_rig


async def wait_for(clock: SimClock, condition: Callable[[], bool], what: str, sim_step: float = 0.05) -> None:
    """Let the driver threads (real time) and the controller (simulated time) run until `condition`."""
    deadline = time.monotonic() + 10.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
        await clock.advance(sim_step)


Rig = tuple[Any, Application, SimClock, list[CoreEvent]]


@contextlib.asynccontextmanager
async def controller_on_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The whole controller on the rig's drivers, started; stopped again on the way out."""
    async with hardware_rig() as rig:
        settings = load_settings(
            None, station={"state_dir": str(tmp_path)}, connectors=[{"id": 1, "hal": rig.hal_config()}]
        )
        clock = SimClock()
        app = Application(settings, clock=clock)
        rig.attach_pilot(app.hardware.connectors[0].pilot)
        events: list[CoreEvent] = []
        app.station.subscribe(events.append)
        await app.start()
        try:
            yield rig, app, clock, events
        finally:
            await app.stop()


async def test_controller_charges_a_car_on_the_hardware_drivers(tmp_path: Path) -> None:
    async with controller_on_rig(tmp_path) as (rig, app, clock, events):
        pilot = app.hardware.connectors[0].pilot
        connector = app.station.connector(1)
        coil = rig.pins.pin(COIL)
        await wait_for(clock, lambda: status_label(connector.state) == "Available", "Available")

        rig.car_level = 9.0  # plugged in: state B
        await wait_for(clock, lambda: pilot.output.mode == PilotOutputMode.PWM, "PWM offer")
        assert pilot.output.duty_percent == pytest.approx(32 / 0.6, abs=0.01)  # 32 A cable (PP 220 Ohm)
        assert rig.pins.pin(PWM).state == pytest.approx(32 / 0.6 / 100, abs=1e-4)
        assert coil.state == 0

        rig.car_level = 6.0  # the car asks for power: state C
        await wait_for(clock, lambda: bool(coil.state), "contactor closing")
        await wait_for(clock, lambda: status_label(connector.state) == "Charging", "Charging")
        assert app.hardware.connectors[0].contactor.feedback_closed is True

        rig.meter.values.update({"current_l1": 31.8, "current_l2": 31.9, "current_l3": 31.7})
        rig.meter.values["energy_import"] += 1500.0  # the car draws energy
        await clock.advance(3.0)

        rig.car_level = 9.0  # the car is full: C -> B, the contactor opens at once
        await wait_for(clock, lambda: not coil.state, "contactor opening", sim_step=0.0)
        rig.car_level = 12.0  # unplugged
        await wait_for(clock, lambda: any(isinstance(e, SessionStopped) for e in events), "session end")
        started = next(e for e in events if isinstance(e, SessionStarted))
        stopped = next(e for e in events if isinstance(e, SessionStopped))
        assert started.meter_start_wh == pytest.approx(100_000.0)
        assert stopped.meter_stop_wh - started.meter_start_wh == pytest.approx(1500.0)
        assert stopped.reason.value == "EVDisconnected"


async def test_meter_lost_mid_session_keeps_the_session(tmp_path: Path) -> None:
    async with controller_on_rig(tmp_path) as (rig, app, clock, events):
        pilot = app.hardware.connectors[0].pilot
        connector = app.station.connector(1)
        coil = rig.pins.pin(COIL)
        rig.car_level = 9.0
        await wait_for(clock, lambda: pilot.output.mode == PilotOutputMode.PWM, "PWM offer")
        rig.car_level = 6.0
        await wait_for(clock, lambda: status_label(connector.state) == "Charging", "Charging")
        rig.meter.values["energy_import"] += 700.0
        await clock.advance(2.0)
        await rig.stop_meter()  # the meter stops answering mid-session
        await wait_for(
            clock,
            lambda: "meter-offline" in {f.value for f in connector.faults},
            "meter-offline warning",
            sim_step=1.0,
        )
        assert status_label(connector.state) == "Charging" and coil.state  # the session goes on
        rig.meter.values["energy_import"] += 800.0
        await rig.start_meter()  # back: reconnected on the next poll
        await wait_for(
            clock,
            lambda: "meter-offline" not in {f.value for f in connector.faults},
            "meter back",
            sim_step=1.0,
        )
        rig.car_level = 9.0
        await wait_for(clock, lambda: not coil.state, "contactor opening", sim_step=0.0)
        rig.car_level = 12.0
        await wait_for(clock, lambda: any(isinstance(e, SessionStopped) for e in events), "session end")
        started = next(e for e in events if isinstance(e, SessionStarted))
        stopped = next(e for e in events if isinstance(e, SessionStopped))
        assert stopped.meter_stop_wh - started.meter_start_wh == pytest.approx(1500.0)
