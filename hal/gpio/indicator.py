"""Status LED: an RGB LED (colour + blink per state) or a single LED (steady / slow / fast blink / off)."""

from __future__ import annotations

from typing import Any

from hal.gpio.pins import OutputSpec
from hal.types import IndicatorState

Colour = tuple[float, float, float]
# state -> (colour, blink period in s or 0 for steady)
_RGB: dict[IndicatorState, tuple[Colour, float]] = {
    IndicatorState.BOOTING: ((1, 1, 1), 0.25),
    IndicatorState.AVAILABLE: ((0, 1, 0), 0),
    IndicatorState.CONNECTED: ((0, 0, 1), 0),
    IndicatorState.CHARGING: ((0, 0, 1), 1.0),
    IndicatorState.SUSPENDED: ((1, 1, 0), 0),
    IndicatorState.RESERVED: ((1, 1, 0), 1.0),
    IndicatorState.UNAVAILABLE: ((1, 0, 0), 0),
    IndicatorState.FAULT: ((1, 0, 0), 0.25),
}
# single LED: None = off, 0 = steady on, else blink period
_SINGLE: dict[IndicatorState, float | None] = {
    IndicatorState.BOOTING: 0.25,
    IndicatorState.AVAILABLE: 0,
    IndicatorState.CONNECTED: 0,
    IndicatorState.CHARGING: 1.0,
    IndicatorState.SUSPENDED: 2.0,
    IndicatorState.RESERVED: 2.0,
    IndicatorState.UNAVAILABLE: None,
    IndicatorState.FAULT: 0.25,
}


class RgbIndicator:
    def __init__(self, red: OutputSpec, green: OutputSpec, blue: OutputSpec, pin_factory: Any = None) -> None:
        self._pins = (red, green, blue)
        self._factory = pin_factory
        self._led: Any = None
        self.state: IndicatorState | None = None

    async def start(self) -> None:
        from gpiozero import RGBLED

        red, green, blue = self._pins
        self._led = RGBLED(
            red.pin, green.pin, blue.pin, active_high=red.active_high, pwm=False, pin_factory=self._factory
        )
        self.show(IndicatorState.BOOTING)

    async def stop(self) -> None:
        if self._led is not None:
            self._led.close()
            self._led = None

    def show(self, state: IndicatorState) -> None:
        if self._led is None or state == self.state:
            return
        self.state = state
        colour, period = _RGB[state]
        if period:
            self._led.blink(on_time=period / 2, off_time=period / 2, on_color=colour)
        else:
            self._led.color = colour


class SingleLedIndicator:
    def __init__(self, led: OutputSpec, pin_factory: Any = None) -> None:
        self._spec = led
        self._factory = pin_factory
        self._led: Any = None
        self.state: IndicatorState | None = None

    async def start(self) -> None:
        from gpiozero import LED

        self._led = LED(self._spec.pin, active_high=self._spec.active_high, pin_factory=self._factory)
        self.show(IndicatorState.BOOTING)

    async def stop(self) -> None:
        if self._led is not None:
            self._led.close()
            self._led = None

    def show(self, state: IndicatorState) -> None:
        if self._led is None or state == self.state:
            return
        self.state = state
        period = _SINGLE[state]
        if period is None:
            self._led.off()
        elif period == 0:
            self._led.on()
        else:
            self._led.blink(on_time=period / 2, off_time=period / 2)
