"""The CP generator: 1 kHz PWM plus steady +12 V / -12 V / off, per the board's wiring.

Typical boards (EVSE Pi Hat, docs/reference/hardware.md §6.3) feed one PWM line into a +/-12 V stage:
line high = +12 V, line low = -12 V, so steady +12 V is 100 % duty and state F is 0 %. "Off" (state E,
0 V) needs an enable pin that switches the stage off; without one the generator shows -12 V (F, also
"not available").
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from hal.pilot.signal import PWM_PERIOD_NS, duty_to_ns, ns_to_duty, round_duty_down
from hal.pilot.sysfs_pwm import SysfsPwm
from hal.types import PILOT_OFF, PilotOutput, PilotOutputMode

log = logging.getLogger(__name__)


class PwmLine(Protocol):
    """A PWM line whose high level is +12 V on the CP (inversion is handled inside)."""

    @property
    def resolution_percent(self) -> float: ...

    async def open(self) -> None: ...

    def set_duty(self, duty_percent: float) -> float:
        """Set the duty; returns the duty really produced (never above the request)."""

    def release(self) -> None: ...


class SysfsPwmLine:
    """Hardware PWM: duty set in nanoseconds, exact to the period's resolution."""

    def __init__(self, pwm: SysfsPwm) -> None:
        self._pwm = pwm

    @property
    def resolution_percent(self) -> float:
        return 100.0 / self._pwm.period_ns

    async def open(self) -> None:
        await self._pwm.open()

    def set_duty(self, duty_percent: float) -> float:
        duty_ns = duty_to_ns(duty_percent, self._pwm.period_ns)
        self._pwm.set_duty_ns(duty_ns)
        return ns_to_duty(duty_ns, self._pwm.period_ns)

    def release(self) -> None:
        self._pwm.release()


# Duty resolution of gpiozero's pin factories at 1 kHz (docs/reference/hardware.md §6.1): lgpio passes
# int(value*100), pigpio's DMA PWM has 200 real steps at 1 kHz, RPi.GPIO takes a float duty but is
# software-timed.
_FACTORY_RESOLUTION = {"LGPIOFactory": 1.0, "PiGPIOFactory": 0.5, "RPiGPIOFactory": 0.1, "MockFactory": 0.0}
UNKNOWN_FACTORY_RESOLUTION = 1.0


class GpioPwmLine:
    """gpiozero PWMOutputDevice fallback for boards without hardware PWM. The duty is rounded DOWN to what
    the pin factory can really produce, so the current offered to the car is never above the request."""

    def __init__(
        self,
        pin: str | int,
        active_high: bool = True,
        pin_factory: Any = None,
        resolution_percent: float | None = None,
    ) -> None:
        self._pin = pin
        self._active_high = active_high
        self._factory = pin_factory
        self._resolution_override = resolution_percent
        self._resolution = (
            resolution_percent if resolution_percent is not None else UNKNOWN_FACTORY_RESOLUTION
        )
        self._device: Any = None

    @property
    def resolution_percent(self) -> float:
        return self._resolution

    async def open(self) -> None:
        from gpiozero import PWMOutputDevice

        self._device = PWMOutputDevice(
            self._pin,
            active_high=self._active_high,
            initial_value=0,
            frequency=1000 / (PWM_PERIOD_NS / 1e6),
            pin_factory=self._factory,
        )
        factory_name = type(self._device.pin_factory).__name__
        if self._resolution_override is None:
            self._resolution = _FACTORY_RESOLUTION.get(factory_name, UNKNOWN_FACTORY_RESOLUTION)
        log.warning(
            "CP PWM on %s via software PWM (%s): duty resolution %.2f %%, timing jitter from a user-space "
            'thread; offered currents are rounded down. Use hardware PWM (driver = "sysfs") if you can.',
            self._pin,
            factory_name,
            self._resolution,
        )

    def set_duty(self, duty_percent: float) -> float:
        duty = round_duty_down(duty_percent, self._resolution)
        self._device.value = duty / 100.0
        return duty

    def release(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None


class PilotGenerator:
    """Drives the CP line to a PilotOutput. `set_output` is synchronous, fast and thread-safe."""

    def __init__(
        self,
        line: PwmLine,
        enable_pin: str | int | None = None,
        enable_active_high: bool = True,
        pin_factory: Any = None,
    ) -> None:
        self._line = line
        self._enable_pin = enable_pin
        self._enable_active_high = enable_active_high
        self._factory = pin_factory
        self._enable: Any = None
        self._lock = threading.Lock()
        self._output = PILOT_OFF

    @property
    def output(self) -> PilotOutput:
        return self._output

    @property
    def duty_resolution_percent(self) -> float:
        return self._line.resolution_percent

    async def open(self) -> None:
        if self._enable_pin is not None:
            from gpiozero import DigitalOutputDevice

            self._enable = DigitalOutputDevice(
                self._enable_pin,
                active_high=self._enable_active_high,
                initial_value=False,
                pin_factory=self._factory,
            )
        else:
            log.info("CP stage has no enable pin: state E (off) is shown as -12 V (state F)")
        await self._line.open()
        self.set_output(PILOT_OFF)

    def set_output(self, output: PilotOutput) -> None:
        with self._lock:
            mode = output.mode
            if mode == PilotOutputMode.OFF and self._enable is None:
                self._line.set_duty(0.0)
            elif mode == PilotOutputMode.OFF:
                self._enable.off()
                self._line.set_duty(0.0)
            else:
                duty = {PilotOutputMode.HIGH: 100.0, PilotOutputMode.NEGATIVE: 0.0}.get(
                    mode, output.duty_percent
                )
                if not 0.0 <= duty <= 100.0:
                    raise ValueError(f"duty {duty} % outside 0..100")
                actual = self._line.set_duty(duty)
                if self._enable is not None:
                    self._enable.on()
                if mode == PilotOutputMode.PWM:
                    output = PilotOutput.pwm(actual)
            self._output = output

    def close(self) -> None:
        with self._lock:
            if self._enable is not None:
                self._enable.off()
                self._enable.close()
                self._enable = None
            self._line.release()
            self._output = PILOT_OFF
