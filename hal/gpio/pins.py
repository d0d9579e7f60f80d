"""Pin helpers shared by the gpiozero drivers: inputs with any pull / active level, debounced inputs whose
changes are pushed from the event loop, and plain outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hal.clock import Clock, Timer
from hal.contract import HalError, Unsubscribe
from hal.pubsub import Subscribers

Pull = Literal["up", "down", "none"]


@dataclass(frozen=True)
class InputSpec:
    pin: str | int
    active_high: bool = True
    pull: Pull = "none"


@dataclass(frozen=True)
class OutputSpec:
    pin: str | int
    active_high: bool = True


def open_input(spec: InputSpec, pin_factory: Any) -> Any:
    from gpiozero import DigitalInputDevice

    pull_up = {"up": True, "down": False, "none": None}[spec.pull]
    return DigitalInputDevice(
        spec.pin, pull_up=pull_up, active_state=True if pull_up is None else None, pin_factory=pin_factory
    )


def input_active(device: Any, spec: InputSpec) -> bool:
    """The logical state from the raw level, whatever the pull (gpiozero ties active level to the pull)."""
    return bool(device.pin.state) == spec.active_high


def open_output(spec: OutputSpec, pin_factory: Any) -> Any:
    from gpiozero import DigitalOutputDevice

    return DigitalOutputDevice(
        spec.pin, active_high=spec.active_high, initial_value=False, pin_factory=pin_factory
    )


class DebouncedInput:
    """A digital input reported after it has been stable for `debounce_s` (restarted by every edge).
    Edges may arrive on gpiozero's thread; the settling runs on the event loop through the Clock, and
    subscribers are called there. With debounce_s == 0, or for the activation of an input built with
    `immediate_activation` (emergency stop), the change is pushed at once from the pin thread."""

    def __init__(
        self,
        spec: InputSpec,
        clock: Clock,
        debounce_s: float,
        pin_factory: Any = None,
        name: str = "input",
        immediate_activation: bool = False,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._debounce_s = debounce_s
        self._immediate = immediate_activation
        self._factory = pin_factory
        self.name = name
        self._device: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: Timer | None = None
        self._active = False
        self._subscribers: Subscribers[bool] = Subscribers(name)

    @property
    def active(self) -> bool:
        return self._active

    def raw_active(self) -> bool:
        if self._device is None:
            raise HalError(f"{self.name} read before start()")
        return input_active(self._device, self.spec)

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._subscribers.subscribe(callback)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._device = open_input(self.spec, self._factory)
        except Exception as exc:
            raise HalError(f"{self.name}: cannot open input pin {self.spec.pin}: {exc}") from exc
        self._active = input_active(self._device, self.spec)
        self._device.when_activated = self._edge
        self._device.when_deactivated = self._edge

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._device is not None:
            self._device.close()
            self._device = None

    def _edge(self) -> None:
        if self._debounce_s <= 0:
            self._settle()
            return
        if (
            self._immediate
            and not self._active
            and self._device is not None
            and input_active(self._device, self.spec)
        ):
            self._settle()  # safety input: act on the press at once, only the release is debounced
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._restart_timer)

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_later(self._debounce_s, self._settle)

    def _settle(self) -> None:
        self._timer = None
        if self._device is None:
            return
        value = input_active(self._device, self.spec)
        if value != self._active:
            self._active = value
            self._subscribers.publish(value)
