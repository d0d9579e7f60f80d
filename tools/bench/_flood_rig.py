"""Benchmark support for tools.bench.safety_flood: the event injector and the mocked charger board.

The injector plays the car and the fault inputs in whichever process owns the safety lines (the controller
inline, or the safety supervisor), waits for the contactor to be closed, triggers one event and takes the
time; the contactor's open() records its own time. Latency = first open after the trigger.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from tests.drivers.mock_adc import MockMcp3008
from tests.drivers.rig import (
    COIL,
    MIRROR,
    PWM,
    RCM_FAULT,
    RCM_TEST,
    REF_V,
    ConnectedPwmPin,
    adc_v,
    serve_cp_line,
)

ESTOP = 22
KINDS = ("cp-c-to-b", "unplug", "rcd-trip", "emergency-stop")


class OpenClock:
    """Wraps a contactor's open() and close() to record when they were called (perf_counter:
    CLOCK_MONOTONIC, the same clock in every process of the machine)."""

    def __init__(self) -> None:
        self.opened_at: list[float] = []
        self.closed_at: list[float] = []

    def wrap(self, contactor: Any) -> None:
        real_open, real_close = contactor.open, contactor.close

        def timed_open() -> None:
            self.opened_at.append(time.perf_counter())
            real_open()

        def timed_close() -> None:
            self.closed_at.append(time.perf_counter())
            real_close()

        contactor.open, contactor.close = timed_open, timed_close

    def last_was_close(self) -> bool:
        """The last command was a close (a contactor that reads closed may still have an open on its
        way: the simulated one applies commands on the controller's loop)."""
        return bool(self.closed_at) and (not self.opened_at or self.closed_at[-1] > self.opened_at[-1])


class Actuator(Protocol):
    """What the injector needs from the board or the simulation."""

    def closed(self) -> bool: ...

    def trigger(self, kind: str) -> None: ...

    def restore(self, kind: str) -> None: ...


def wait_until(condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 60.0,
               poll_s: float = 0.0005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what if isinstance(what, str) else what()}")
        time.sleep(poll_s)


def retry_until_done(action: Callable[[], None], refused: type[Exception], timeout: float = 30.0,
                     poll_s: float = 0.01) -> None:
    """Run `action` until it no longer raises `refused` (re-raised after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except refused:
            if time.monotonic() > deadline:
                raise
            time.sleep(poll_s)


def inject(actuator: Actuator, events: int, opens: OpenClock, skipped: list[int] | None = None
           ) -> list[tuple[str, float]]:
    """Returns (kind, t0) per measured event; the latencies come from matching t0 with `opens`.

    Each event waits until the contactor is closed and the last command it got was that close (not an
    earlier close whose open is still on its way). An event whose contactor was open when it arrived
    anyway (something else opened it between the check and the trigger) measures nothing: it is
    repeated and counted in `skipped`; more than 25 % of them fails the run."""
    rng = random.Random(61851)
    triggered: list[tuple[str, float]] = []
    skips = 0
    i = 0
    while len(triggered) < events:
        kind = KINDS[i % len(KINDS)]
        wait_until(lambda: opens.last_was_close() and actuator.closed(),
                   lambda kind=kind, i=i: f"the contactor closed again before {kind} #{i}: "  # type: ignore[misc]
                   f"{getattr(actuator, 'describe', lambda: '')()}")
        time.sleep(rng.uniform(0, 0.002))  # at a random moment of the controller's work
        t0 = time.perf_counter()
        actuator.trigger(kind)
        try:
            wait_until(lambda t0=t0: bool(opens.opened_at) and opens.opened_at[-1] >= t0,  # type: ignore[misc]
                       f"the contactor to open after {kind} #{i}", timeout=5.0)
            triggered.append((kind, t0))
        except TimeoutError as exc:
            skips += 1
            if skips > max(5, events // 4):
                raise TimeoutError(f"{exc}; {getattr(actuator, 'describe', lambda: '')()}") from None
        actuator.restore(kind)
        i += 1
    if skipped is not None:
        skipped.append(skips)
    return triggered


def latencies(triggered: list[tuple[str, float]], opened_at: list[float]) -> dict[str, list[float]]:
    """Per kind, seconds from each trigger to the first open at or after it."""
    result: dict[str, list[float]] = {}
    opens = sorted(opened_at)
    j = 0
    for kind, t0 in triggered:
        while j < len(opens) and opens[j] < t0:
            j += 1
        if j < len(opens):
            result.setdefault(kind, []).append(opens[j] - t0)
    return result


# The interlock's open reason each event kind must cause (firmware.core.interlock._open_reason).
REASON = {"cp-c-to-b": "cp:B", "unplug": "cp:A", "rcd-trip": "fault:rcd",
          "emergency-stop": "fault:emergency-stop"}


def record_open_reasons() -> list[tuple[float, str]]:
    """From now on every interlock open of a closed contactor in this process is recorded as (time,
    reason), just before the contactor's open() is called."""
    from firmware.core.interlock import SafetyInterlock

    recorded: list[tuple[float, str]] = []
    real_open = SafetyInterlock._open

    def _open(self: SafetyInterlock, reason: str) -> None:
        if self._hw.contactor.commanded_closed:
            recorded.append((time.perf_counter(), reason))
        real_open(self, reason)

    SafetyInterlock._open = _open  # type: ignore[method-assign]
    return recorded


def attributed(triggered: list[tuple[str, float]], reasons: list[tuple[float, str]]
               ) -> tuple[dict[str, list[float]], int]:
    """Per kind, seconds from each trigger to the open *it* caused: the first open with the kind's
    reason after the trigger and before the next one. An event that found the contactor already opened
    by something else (so it caused no open) is not measured; their number is returned too."""
    result: dict[str, list[float]] = {}
    unmeasured = 0
    ordered = sorted(reasons)
    j = 0
    for n, (kind, t0) in enumerate(triggered):
        t_next = triggered[n + 1][1] if n + 1 < len(triggered) else float("inf")
        while j < len(ordered) and ordered[j][0] < t0:
            j += 1
        k = j
        while k < len(ordered) and ordered[k][0] < t_next and ordered[k][1] != REASON[kind]:
            k += 1
        if k < len(ordered) and ordered[k][0] < t_next:
            result.setdefault(kind, []).append(ordered[k][0] - t0)
        else:
            unmeasured += 1
    return result, unmeasured


def write_results(path: Path, triggered: list[tuple[str, float]], opened_at: list[float],
                  skipped: int = 0, reasons: list[tuple[float, str]] | None = None, error: str = "") -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"triggered": triggered, "opened_at": opened_at, "skipped": skipped,
                               "reasons": reasons or [], "error": error}))
    os.replace(tmp, path)


# --- the mocked board (as tests/drivers/rig.py wires it, without the meter) ---------------------------
class BoardRig:
    def __init__(self) -> None:
        factory = MockFactory(pin_class=MockPWMPin)
        Device.pin_factory = factory
        mirror = factory.pin(MIRROR)
        mirror.drive_low()  # coil off: the NC mirror contact is closed
        factory.pin(COIL, pin_class=ConnectedPwmPin, input_pin=mirror)
        self.fault = factory.pin(RCM_FAULT)
        self.fault.drive_low()
        factory.pin(RCM_TEST, pin_class=ConnectedPwmPin, input_pin=self.fault)
        self.estop = factory.pin(ESTOP)
        self.estop.drive_high()  # NC button with pull-up released: active low
        self.adc = MockMcp3008(REF_V, factory)
        self.adc.set_voltages(0, [adc_v(12.0)])
        self.pins = factory
        self.car_level = 12.0

    @staticmethod
    def hal_config(burst_samples: int) -> dict[str, Any]:
        return {
            "pilot": {"driver": "gpio", "pwm": PWM,
                      "measure": {"type": "adc", "adc_model": "MCP3008", "channel": 0, "reference_v": REF_V,
                                  "adc_v_at_minus_12": 0.9, "adc_v_at_plus_12": 4.55,
                                  "burst_samples": burst_samples, "interval_ms": 2}},
            "contactor": {"driver": "gpio", "coil": COIL, "feedback": {"pin": MIRROR, "active_high": False}},
            "rcm": {"driver": "gpio", "fault": RCM_FAULT, "test": RCM_TEST, "trip_timeout_s": 1.0},
            "proximity": None, "lock": None, "temperature": None, "token_reader": None, "indicator": None,
        }

    @staticmethod
    def estop_config() -> dict[str, Any]:
        return {"driver": "gpio", "input": {"pin": ESTOP, "active_high": False}, "debounce_ms": 5}

    def attach_pilot(self, pilot: Any) -> None:
        serve_cp_line(self.adc, pilot, lambda: self.car_level)


class BoardActuator:
    """The car and the fault inputs on the mocked board. `controller` returns the controller's view of
    connector 1 (its `describe()`: status, cp_state, faults), `clear_rcd(fault)` is the technician's clear
    (it raises while the controller still sees the monitor tripped). Every restore waits for the controller
    to have seen the previous step: fixed sleeps raced the controller under load (with the supervisor,
    the pin changes reach it over the link)."""

    def __init__(self, rig: BoardRig, contactor: Any, controller: Callable[[], dict[str, Any]],
                 clear_rcd: Callable[[str], None]) -> None:
        self._rig = rig
        self._contactor = contactor
        self._controller = controller
        self._clear_rcd = clear_rcd

    def closed(self) -> bool:
        return bool(self._contactor.commanded_closed)

    def describe(self) -> str:
        return str({k: v for k, v in self._controller().items() if k in STATUS_KEYS})

    def _await(self, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        wait_until(lambda: condition(self._controller()), lambda: f"{what}: {self.describe()}", poll_s=0.005)

    def plug_in(self) -> None:
        """From no car (A, Available) to charging: B, then C once the controller saw B."""
        rig = self._rig
        self._await(lambda c: c["cp_state"] == "A" and c["status"] == "Available", "Available, no car")
        rig.car_level = 9.0
        self._await(lambda c: c["cp_state"] == "B", "the car seen in B")
        rig.car_level = 6.0

    def trigger(self, kind: str) -> None:
        rig = self._rig
        if kind == "cp-c-to-b":
            rig.car_level = 9.0
        elif kind == "unplug":
            rig.car_level = 12.0
        elif kind == "rcd-trip":
            rig.fault.drive_high()
        else:
            rig.estop.drive_low()

    def restore(self, kind: str) -> None:
        rig = self._rig
        if kind == "cp-c-to-b":
            self._await(lambda c: c["cp_state"] == "B", "the pause (B) seen")
            rig.car_level = 6.0
        elif kind == "unplug":
            self.plug_in()
        elif kind == "rcd-trip":  # the monitor resets; the technician clears the latch once it is latched
            self._await(lambda c: "rcd" in c["faults"], "the RCD trip latched")
            rig.fault.drive_low()
            # Refused while the reset has not reached the controller yet.
            retry_until_done(lambda: self._clear_rcd("rcd"), Exception)
        else:  # the session ended: once the controller sees the car again, the driver unplugs and replugs
            rig.estop.drive_high()
            self._await(lambda c: c["status"] != "Faulted" and c["cp_state"] in ("B", "C"),
                        "the e-stop released, the car seen again")
            rig.car_level = 12.0
            self.plug_in()


STATUS_KEYS = ("status", "cp_state", "pilot_mode", "faults", "contactor", "offered_a", "session")


def start_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="bench-injector", daemon=True)
    thread.start()
    return thread
