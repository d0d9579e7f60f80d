"""Type 2 socket lock motor on an H-bridge (two outputs) with an optional "locked" feedback input.
Pulse, wait, check, retry (chargebyte 600 ms drive, SmartEVSE check after ~800 ms;
docs/reference/hardware.md §4.3)."""

from __future__ import annotations

from typing import Any

from hal.clock import Clock
from hal.contract import HalError
from hal.gpio.pins import InputSpec, OutputSpec, input_active, open_input, open_output


class GpioSocketLock:
    def __init__(
        self,
        lock_pin: OutputSpec,
        unlock_pin: OutputSpec,
        clock: Clock,
        feedback: InputSpec | None = None,
        pulse_s: float = 0.6,
        settle_s: float = 0.2,
        attempts: int = 3,
        retry_delay_s: float = 1.0,
        pin_factory: Any = None,
    ) -> None:
        self._lock_spec = lock_pin
        self._unlock_spec = unlock_pin
        self._feedback_spec = feedback
        self._clock = clock
        self.pulse_s = pulse_s
        self.settle_s = settle_s
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self._factory = pin_factory
        self._lock_out: Any = None
        self._unlock_out: Any = None
        self._feedback: Any = None
        self.last_attempts = 0

    async def start(self) -> None:
        try:
            self._lock_out = open_output(self._lock_spec, self._factory)
            self._unlock_out = open_output(self._unlock_spec, self._factory)
            if self._feedback_spec is not None:
                self._feedback = open_input(self._feedback_spec, self._factory)
        except Exception as exc:
            raise HalError(f"socket lock: cannot open its pins: {exc}") from exc

    async def stop(self) -> None:
        for device in (self._lock_out, self._unlock_out, self._feedback):
            if device is not None:
                device.close()
        self._lock_out = self._unlock_out = self._feedback = None

    @property
    def locked(self) -> bool | None:
        if self._feedback is None or self._feedback_spec is None:
            return None
        return input_active(self._feedback, self._feedback_spec)

    async def lock(self) -> bool:
        return await self._drive(self._lock_out, want_locked=True)

    async def unlock(self) -> bool:
        return await self._drive(self._unlock_out, want_locked=False)

    async def _drive(self, output: Any, want_locked: bool) -> bool:
        if output is None:
            raise HalError("socket lock used before start()")
        for attempt in range(1, self.attempts + 1):
            self.last_attempts = attempt
            output.on()
            try:
                await self._clock.sleep(self.pulse_s)
            finally:
                output.off()
            await self._clock.sleep(self.settle_s)
            state = self.locked
            if state is None or state == want_locked:
                return True
            if attempt < self.attempts:
                await self._clock.sleep(self.retry_delay_s)
        return False
