"""Residual current monitor (RCM14-xx / RDC-DD 6 mA DC, docs/reference/hardware.md §4.1): fault input
pushed at once from the pin thread, and a self test that drives the test output and expects a trip, then
a clear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hal.clock import Clock
from hal.contract import HalError, Unsubscribe
from hal.gpio.pins import DebouncedInput, InputSpec, OutputSpec, open_output
from hal.pubsub import Subscribers
from hal.types import SelfTestResult

POLL_S = 0.005


class GpioRcm:
    def __init__(
        self,
        fault: InputSpec,
        clock: Clock,
        test: OutputSpec | None = None,
        trip_timeout_s: float = 15.0,
        clear_timeout_s: float = 2.0,
        pin_factory: Any = None,
    ) -> None:
        # docs/reference/hardware.md §4.1 / §8: SmartEVSE expects the trip within a 15 s window after
        # driving the test pin.
        self._clock = clock
        self._test_spec = test
        self._trip_timeout_s = trip_timeout_s
        self._clear_timeout_s = clear_timeout_s
        self._factory = pin_factory
        self._input = DebouncedInput(fault, clock, 0.0, pin_factory, "RCM fault")
        self._test: Any = None
        self._testing = False
        self._subscribers: Subscribers[bool] = Subscribers("RCM")
        self._input.subscribe(self._changed)

    async def start(self) -> None:
        await self._input.start()
        if self._test_spec is not None:
            try:
                self._test = open_output(self._test_spec, self._factory)
            except Exception as exc:
                raise HalError(f"RCM: cannot open test pin {self._test_spec.pin}: {exc}") from exc

    async def stop(self) -> None:
        await self._input.stop()
        if self._test is not None:
            self._test.close()
            self._test = None

    @property
    def tripped(self) -> bool:
        return self._input.active

    def subscribe(self, callback: Callable[[bool], None]) -> Unsubscribe:
        return self._subscribers.subscribe(callback)

    def _changed(self, tripped: bool) -> None:
        if not self._testing:
            self._subscribers.publish(tripped)

    async def _wait_for(self, tripped: bool, timeout_s: float) -> float | None:
        started = self._clock.monotonic()
        while self._clock.monotonic() - started <= timeout_s:
            if self._input.raw_active() == tripped:
                return self._clock.monotonic() - started
            await self._clock.sleep(POLL_S)
        return None

    async def self_test(self) -> SelfTestResult:
        if self._test is None:
            return SelfTestResult(False, "no RCM test output configured")
        if self._input.raw_active():
            return SelfTestResult(False, "RCM already signals a fault before the test", monitor_tripped=True)
        self._testing = True
        try:
            self._test.on()
            trip_s = await self._wait_for(True, self._trip_timeout_s)
            self._test.off()
            if trip_s is None:
                return SelfTestResult(
                    False, f"RCM did not trip within {self._trip_timeout_s:g} s of the test signal"
                )
            clear_s = await self._wait_for(False, self._clear_timeout_s)
            values = {"trip_ms": round(trip_s * 1000, 1)}
            if clear_s is None:
                return SelfTestResult(
                    False, f"RCM stayed tripped {self._clear_timeout_s:g} s after the test", values
                )
            values["clear_ms"] = round(clear_s * 1000, 1)
            return SelfTestResult(True, "RCM tripped on the test signal and cleared", values)
        finally:
            self._test.off()
            self._testing = False
            if self._input.raw_active():  # a real fault that outlived the test
                self._subscribers.publish(True)
