"""Main or phase-switch contactor on a GPIO, with an optional mirror/auxiliary contact read back and an
optional hardware-watchdog output that toggles only while the contactor is commanded closed (EVSE Pi Hat
pattern, docs/reference/hardware.md §4.2: the board opens the relay by itself when the toggling stops)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from hal.clock import Clock
from hal.contract import HalError, Unsubscribe
from hal.gpio.pins import DebouncedInput, InputSpec, OutputSpec, open_output

FEEDBACK_DEBOUNCE_S = 0.010  # chargebyte contactor feedback debounce (docs/reference/hardware.md §4.2)


class WatchdogOutput:
    """A square wave on a pin (gpiozero PWM at 50 %) while running; low otherwise."""

    def __init__(self, spec: OutputSpec, frequency_hz: float, pin_factory: Any = None) -> None:
        self._spec = spec
        self._frequency = frequency_hz
        self._factory = pin_factory
        self._device: Any = None

    def open(self) -> None:
        from gpiozero import PWMOutputDevice

        self._device = PWMOutputDevice(
            self._spec.pin,
            active_high=self._spec.active_high,
            initial_value=0,
            frequency=self._frequency,
            pin_factory=self._factory,
        )

    def run(self) -> None:
        self._device.value = 0.5

    def halt(self) -> None:
        self._device.value = 0

    def release(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None


class GpioContactor:
    """`close`/`open` are synchronous single pin writes, safe from any thread."""

    def __init__(
        self,
        coil: OutputSpec,
        clock: Clock,
        feedback: InputSpec | None = None,
        feedback_contact: Literal["no", "nc"] = "nc",
        watchdog: WatchdogOutput | None = None,
        pin_factory: Any = None,
        name: str = "contactor",
    ) -> None:
        self._coil_spec = coil
        self._factory = pin_factory
        self._name = name
        self._coil: Any = None
        self._lock = threading.Lock()
        self._commanded = False
        self._watchdog = watchdog
        self._feedback_nc = feedback_contact == "nc"
        self._feedback = (
            DebouncedInput(feedback, clock, FEEDBACK_DEBOUNCE_S, pin_factory, f"{name} feedback")
            if feedback is not None
            else None
        )

    async def start(self) -> None:
        try:
            self._coil = open_output(self._coil_spec, self._factory)
        except Exception as exc:
            raise HalError(f"{self._name}: cannot open coil pin {self._coil_spec.pin}: {exc}") from exc
        if self._watchdog is not None:
            self._watchdog.open()
        if self._feedback is not None:
            await self._feedback.start()

    async def stop(self) -> None:
        self.open()
        if self._feedback is not None:
            await self._feedback.stop()
        if self._watchdog is not None:
            self._watchdog.release()
        if self._coil is not None:
            self._coil.close()
            self._coil = None

    def close(self) -> None:
        with self._lock:
            if self._coil is None:
                raise HalError(f"{self._name} used before start()")
            self._coil.on()
            self._commanded = True
            if self._watchdog is not None:
                self._watchdog.run()

    def open(self) -> None:
        with self._lock:
            if self._watchdog is not None and self._coil is not None:
                self._watchdog.halt()
            if self._coil is not None:
                self._coil.off()
            self._commanded = False

    @property
    def commanded_closed(self) -> bool:
        return self._commanded

    @property
    def feedback_closed(self) -> bool | None:
        if self._feedback is None:
            return None
        return self._feedback.active != self._feedback_nc

    def subscribe_feedback(self, callback: Callable[[bool], None]) -> Unsubscribe:
        if self._feedback is None:
            return lambda: None
        nc = self._feedback_nc
        return self._feedback.subscribe(lambda active: callback(active != nc))
