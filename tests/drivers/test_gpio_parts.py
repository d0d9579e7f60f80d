"""Relays and inputs on gpiozero's MockFactory: contactor with mirror contact (debounce, weld), watchdog
output, RCM trip and self test, socket lock with feedback and retries, plain inputs, status LEDs."""

from __future__ import annotations

import asyncio
from typing import Any

from gpiozero.pins.mock import MockFactory

from firmware.settings import Settings
from hal import config as cfg
from hal.clock import SimClock
from hal.drivers_factory import _rgb, build_gpio
from hal.factory import BuildContext
from hal.types import IndicatorState


def build(clock: SimClock, part: str, config: dict[str, Any], model: type[Any]) -> Any:
    return build_gpio(BuildContext(Settings(), clock), None, part, model.model_validate(config))


async def test_contactor_with_mirror_contact(pins: MockFactory) -> None:
    clock = SimClock()
    contactor = build(
        clock,
        "contactor",
        {"driver": "gpio", "coil": 17, "feedback": {"pin": 27, "pull": "up", "active_high": False}},
        cfg.GpioContactorConfig,
    )
    mirror = pins.pin(27)
    await contactor.start()
    changes: list[bool] = []
    contactor.subscribe_feedback(changes.append)
    mirror.drive_low()  # NC mirror contact closed (to ground): main contacts open
    await clock.settle()
    await clock.advance(0.02)
    assert contactor.feedback_closed is False
    changes.clear()
    contactor.close()
    assert pins.pin(17).state == 1 and contactor.commanded_closed
    mirror.drive_high()  # mirror opens: main contacts closed ...
    mirror.drive_low()  # ... with contact bounce
    mirror.drive_high()
    await clock.settle()
    await clock.advance(0.005)
    assert changes == []  # still bouncing within the 10 ms debounce
    await clock.advance(0.010)
    assert changes == [True] and contactor.feedback_closed is True
    contactor.open()
    assert pins.pin(17).state == 0
    await clock.advance(0.1)  # welded: the mirror contact never follows
    assert contactor.feedback_closed is True and changes == [True]
    mirror.drive_low()
    await clock.settle()
    await clock.advance(0.02)
    assert changes == [True, False]
    await contactor.stop()


async def test_watchdog_toggles_only_while_closed(pins: MockFactory) -> None:
    clock = SimClock()
    contactor = build(
        clock,
        "contactor",
        {"driver": "gpio", "coil": 17, "watchdog": {"pin": 4, "frequency_hz": 2000}},
        cfg.GpioContactorConfig,
    )
    await contactor.start()
    dog = pins.pin(4)
    assert dog.state == 0
    contactor.close()
    assert dog.state == 0.5 and dog.frequency == 2000  # a square wave while closed
    contactor.open()
    assert dog.state == 0
    assert contactor.feedback_closed is None
    await contactor.stop()


async def test_phase_switch_with_normally_open_feedback(pins: MockFactory) -> None:
    clock = SimClock()
    switch = build(
        clock,
        "phase_switch",
        {
            "driver": "gpio",
            "coil": {"pin": 22, "active_high": False},
            "feedback": 23,
            "feedback_contact": "no",
        },
        cfg.GpioContactorConfig,
    )
    pins.pin(23).drive_low()
    await switch.start()
    assert pins.pin(22).state == 1  # active-low coil: released = high
    switch.close()
    assert pins.pin(22).state == 0
    pins.pin(23).drive_high()
    await clock.settle()
    await clock.advance(0.02)
    assert switch.feedback_closed is True
    await switch.stop()


async def test_rcm_trip_is_pushed_at_once(pins: MockFactory) -> None:
    clock = SimClock()
    rcm = build(clock, "rcm", {"driver": "gpio", "fault": 24, "test": 25}, cfg.GpioRcmConfig)
    pins.pin(24).drive_low()
    await rcm.start()
    trips: list[bool] = []
    rcm.subscribe(trips.append)
    pins.pin(24).drive_high()
    assert trips == [True] and rcm.tripped  # no waiting on the event loop
    pins.pin(24).drive_low()
    assert trips == [True, False]
    await rcm.stop()


async def run_self_test(clock: SimClock, rcm: Any, respond: Any) -> Any:
    task = asyncio.ensure_future(rcm.self_test())
    for _ in range(400):
        await clock.advance(0.05)
        respond()
        if task.done():
            break
    return await task


async def test_rcm_self_test(pins: MockFactory) -> None:
    clock = SimClock()
    rcm = build(
        clock,
        "rcm",
        {"driver": "gpio", "fault": {"pin": 24, "active_high": False, "pull": "up"}, "test": 25},
        cfg.GpioRcmConfig,
    )
    fault, test = pins.pin(24), pins.pin(25)
    fault.drive_high()  # active low: high = healthy
    await rcm.start()
    trips: list[bool] = []
    rcm.subscribe(trips.append)

    def healthy_module() -> None:  # trips while the test line is driven, clears after
        (fault.drive_low if test.state else fault.drive_high)()

    result = await run_self_test(clock, rcm, healthy_module)
    assert result.passed, result.detail
    assert 0 < result.values["trip_ms"] <= 100 and "clear_ms" in result.values
    assert trips == []  # the test's own trip is not a fault
    assert test.state == 0

    result = await run_self_test(clock, rcm, lambda: None)  # a dead module never trips
    assert not result.passed and "did not trip" in result.detail

    def stuck_module() -> None:
        if test.state:
            fault.drive_low()

    result = await run_self_test(clock, rcm, stuck_module)
    assert not result.passed and "stayed tripped" in result.detail
    assert trips == [True]  # a trip that outlives the test is reported
    await rcm.stop()


async def test_lock_with_feedback_and_retries(pins: MockFactory) -> None:
    clock = SimClock()
    lock = build(
        clock,
        "lock",
        {"driver": "gpio", "lock": 5, "unlock": 6, "feedback": 13, "attempts": 3},
        cfg.GpioLockConfig,
    )
    sense = pins.pin(13)
    sense.drive_low()
    await lock.start()
    assert lock.locked is False
    pulses: list[str] = []

    async def drive(op: Any, motor_works_on_pulse: int) -> bool:
        task = asyncio.ensure_future(op())
        was = {5: 0.0, 6: 0.0}
        for _ in range(200):
            await clock.advance(0.05)
            for pin, name in ((5, "lock"), (6, "unlock")):
                state = pins.pin(pin).state
                if state and not was[pin]:
                    pulses.append(name)
                    if pulses.count(name) >= motor_works_on_pulse:
                        (sense.drive_high if name == "lock" else sense.drive_low)()
                was[pin] = state
            if task.done():
                break
        return bool(await task)

    assert await drive(lock.lock, motor_works_on_pulse=1)
    assert lock.locked is True and lock.last_attempts == 1
    assert await drive(lock.unlock, motor_works_on_pulse=1)
    assert lock.locked is False
    pulses.clear()
    assert await drive(lock.lock, motor_works_on_pulse=2)  # jammed on the first pulse, retried
    assert lock.last_attempts == 2 and pulses == ["lock", "lock"]
    await lock.stop()


async def test_lock_failure_after_all_attempts(pins: MockFactory) -> None:
    clock = SimClock()
    lock = build(
        clock,
        "lock",
        {"driver": "gpio", "lock": 5, "unlock": 6, "feedback": 13, "attempts": 3, "retry_delay_s": 1.0},
        cfg.GpioLockConfig,
    )
    pins.pin(13).drive_low()
    await lock.start()
    task = asyncio.ensure_future(lock.lock())
    await clock.advance(10.0)
    assert task.done() and task.result() is False
    assert lock.last_attempts == 3
    assert pins.pin(5).state == 0  # motor never left powered
    await lock.stop()


async def test_debounced_input(pins: MockFactory) -> None:
    clock = SimClock()
    estop = build(
        clock,
        "emergency_stop",
        {"driver": "gpio", "input": {"pin": 16, "pull": "up", "active_high": False}, "debounce_ms": 20},
        cfg.GpioInputConfig,
    )
    pins.pin(16).drive_high()
    await estop.start()
    presses: list[bool] = []
    estop.subscribe(presses.append)
    assert estop.active is False
    pins.pin(16).drive_low()
    assert presses == [True] and estop.active  # a press acts at once, from the pin thread
    pins.pin(16).drive_high()  # released (bouncing) ...
    pins.pin(16).drive_low()
    pins.pin(16).drive_high()
    await clock.settle()
    await clock.advance(0.01)
    assert presses == [True]  # ... the release is debounced
    await clock.advance(0.015)
    assert presses == [True, False] and not estop.active
    await estop.stop()


async def test_demand_response_input_is_debounced(pins: MockFactory) -> None:
    clock = SimClock()
    dr = build(
        clock,
        "demand_response",
        {"driver": "gpio", "input": {"pin": 20, "pull": "down"}, "debounce_ms": 50},
        cfg.GpioInputConfig,
    )
    await dr.start()
    changes: list[bool] = []
    dr.subscribe(changes.append)
    pins.pin(20).drive_high()
    await clock.settle()
    await clock.advance(0.03)
    assert changes == []
    await clock.advance(0.03)
    assert changes == [True]
    await dr.stop()


async def test_leds(pins: MockFactory) -> None:
    clock = SimClock()
    ctx = BuildContext(Settings(), clock)
    rgb = _rgb(
        ctx,
        None,
        "indicator",
        cfg.GpioRgbLedConfig.model_validate({"driver": "gpio-rgb", "red": 9, "green": 10, "blue": 11}),
    )
    await rgb.start()
    rgb.show(IndicatorState.AVAILABLE)
    assert (pins.pin(9).state, pins.pin(10).state, pins.pin(11).state) == (0, 1, 0)
    rgb.show(IndicatorState.UNAVAILABLE)
    assert (pins.pin(9).state, pins.pin(10).state, pins.pin(11).state) == (1, 0, 0)
    await rgb.stop()
    led = build(clock, "indicator", {"driver": "gpio", "led": 12}, cfg.GpioLedConfig)
    await led.start()
    led.show(IndicatorState.AVAILABLE)
    assert pins.pin(12).state == 1
    led.show(IndicatorState.UNAVAILABLE)
    assert pins.pin(12).state == 0
    await led.stop()
