"""Hardware self test for technicians (`chargepi selftest`): CP levels with no car, contactor click with
feedback, RCD test, lock cycle, PP, meter read and an RFID card, each with pass/fail and measured values.

Works on whatever drivers the config names (the fake ones too). Timing uses the injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hal.clock import Clock
from hal.contract import ConnectorHardware, EnergyMeter, HalError, StationHardware
from hal.types import PILOT_F, PILOT_HIGH, CPState, PilotOutput

# EVerest bring-up checklist (docs/reference/hardware.md §1.1): +12 V = 11.4 ... 12.6 V,
# -12 V = -12.6 ... -11.4 V.
HIGH_RANGE = (11.4, 12.6)
LOW_RANGE = (-12.6, -11.4)
SETTLE_S = 0.2  # time for the CP monitor to see and confirm a new output
FEEDBACK_S = 0.25  # mirror contact must follow within 250 ms (chargebyte, docs/reference/hardware.md §4.2)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    values: dict[str, float | str] = field(default_factory=dict)


@dataclass
class SelfTestOptions:
    relay: bool = True  # click the contactor(s): the outlet is live for a moment
    rfid_timeout_s: float = 0.0  # wait this long for a card (0 = skip)


Report = Callable[[Check], None]
T = TypeVar("T")


async def _pilot_level(
    clock: Clock,
    hw: ConnectorHardware,
    output: PilotOutput,
    name: str,
    expect: CPState,
    positive: tuple[float, float] | None,
    negative: tuple[float, float] | None,
) -> Check:
    hw.pilot.set_output(output)
    await clock.sleep(SETTLE_S)
    reading = hw.pilot.read()
    values: dict[str, float | str] = {
        "state": reading.state.value,
        "positive_v": reading.positive_v,
        "negative_v": reading.negative_v,
    }
    problems = []
    if reading.state != expect:
        problems.append(f"state {reading.state.value}, expected {expect.value}")
    if positive and not positive[0] <= reading.positive_v <= positive[1]:
        problems.append(f"+{reading.positive_v:.2f} V outside {positive[0]}..{positive[1]} V")
    if negative and not negative[0] <= reading.negative_v <= negative[1]:
        problems.append(f"{reading.negative_v:.2f} V outside {negative[0]}..{negative[1]} V")
    if reading.diode_fault:
        problems.append("diode fault reported with no car")
    detail = "; ".join(problems) or f"{reading.positive_v:+.2f} V / {reading.negative_v:+.2f} V"
    return Check(f"connector {hw.connector_id} cp {name}", not problems, detail, values)


async def check_pilot(clock: Clock, hw: ConnectorHardware, report: Report) -> bool:
    """CP levels with no car: +12 V steady, -12 V (F), and a 50 % PWM whose halves are both visible.
    Returns False when a car is connected (then nothing else may switch)."""
    hw.pilot.set_output(PILOT_HIGH)
    await clock.sleep(SETTLE_S)
    if hw.pilot.read().state not in (CPState.A, CPState.INVALID, CPState.E):
        report(
            Check(
                f"connector {hw.connector_id} cp",
                False,
                f"a car is connected (state {hw.pilot.read().state.value}): unplug it and run again",
            )
        )
        return False
    checks = [
        await _pilot_level(clock, hw, PILOT_HIGH, "+12 V", CPState.A, HIGH_RANGE, None),
        await _pilot_level(clock, hw, PILOT_F, "-12 V", CPState.F, LOW_RANGE, LOW_RANGE),
        await _pilot_level(clock, hw, PilotOutput.pwm(50.0), "PWM 50 %", CPState.A, HIGH_RANGE, LOW_RANGE),
    ]
    hw.pilot.set_output(PILOT_HIGH)
    for check in checks:
        report(check)
    return True


async def check_contactor(clock: Clock, hw: ConnectorHardware, name: str, report: Report) -> None:
    contactor = hw.contactor if name == "contactor" else hw.phase_switch
    if contactor is None:
        return
    label = f"connector {hw.connector_id} {name.replace('_', ' ')}"
    if contactor.feedback_closed:
        report(Check(label, False, "feedback says closed while the coil is off: welded or wiring fault"))
        return
    contactor.close()
    try:
        await clock.sleep(FEEDBACK_S)
        closed = contactor.feedback_closed
    finally:
        contactor.open()
    await clock.sleep(FEEDBACK_S)
    opened = contactor.feedback_closed
    if closed is None:
        report(Check(label, True, "clicked (no feedback contact configured: listen for it)"))
    elif closed and opened is False:
        report(Check(label, True, f"feedback followed close and open within {FEEDBACK_S * 1000:.0f} ms"))
    elif not closed:
        report(Check(label, False, f"feedback did not confirm closing within {FEEDBACK_S * 1000:.0f} ms"))
    else:
        report(Check(label, False, "feedback stayed closed after opening (welded?)"))


async def check_rcm(hw: ConnectorHardware, report: Report) -> None:
    if hw.rcm is None:
        return
    result = await hw.rcm.self_test()
    report(Check(f"connector {hw.connector_id} rcd", result.passed, result.detail, dict(result.values)))


async def check_lock(hw: ConnectorHardware, report: Report) -> None:
    if hw.lock is None:
        return
    locked = await hw.lock.lock()
    unlocked = await hw.lock.unlock()
    sensed = "with feedback" if hw.lock.locked is not None else "no feedback sensor"
    report(
        Check(
            f"connector {hw.connector_id} lock",
            locked and unlocked,
            f"lock {'ok' if locked else 'FAILED'}, unlock {'ok' if unlocked else 'FAILED'} ({sensed})",
        )
    )


async def check_proximity(hw: ConnectorHardware, report: Report) -> None:
    if hw.proximity is None:
        return
    reading = hw.proximity.read()
    ohms = "open" if reading.resistance_ohm is None else f"{reading.resistance_ohm:.0f} Ohm"
    values: dict[str, float | str] = {"ampacity_a": int(reading.ampacity)}
    report(
        Check(
            f"connector {hw.connector_id} pp",
            not reading.fault,
            f"{ohms} -> {int(reading.ampacity)} A" + (" (FAULT)" if reading.fault else ""),
            values,
        )
    )


async def check_meter(label: str, meter: EnergyMeter, report: Report) -> None:
    try:
        reading = await meter.read()
    except HalError as exc:
        report(Check(label, False, str(exc)))
        return
    volts = " / ".join(f"{v:.1f}" for v in reading.voltage_v) or "-"
    report(
        Check(
            label,
            True,
            f"{reading.energy_import_wh / 1000:.3f} kWh, {volts} V",
            {"energy_wh": reading.energy_import_wh},
        )
    )


async def check_rfid(clock: Clock, hardware: StationHardware, timeout_s: float, report: Report) -> None:
    readers = [r for r in [hardware.token_reader, *(c.token_reader for c in hardware.connectors)] if r]
    if not readers or timeout_s <= 0:
        return
    broken = [str(e) for r in readers if (e := getattr(r, "last_error", None))]
    if broken:
        report(Check("rfid", False, "; ".join(broken)))
        return
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[str] = loop.create_future()

    def accept(uid: str) -> None:
        if not seen.done():
            seen.set_result(uid)

    def on_card(uid: str) -> None:
        loop.call_soon_threadsafe(accept, uid)

    unsubscribe = [r.subscribe(on_card) for r in readers]
    try:
        waited = 0.0
        while not seen.done() and waited < timeout_s:
            await clock.sleep(0.1)
            waited += 0.1
    finally:
        for u in unsubscribe:
            u()
    if seen.done():
        report(Check("rfid", True, f"card {seen.result()}", {"uid": seen.result()}))
    else:
        report(Check("rfid", False, f"no card within {timeout_s:g} s"))


async def _guarded(name: str, report: Report, check: Awaitable[T]) -> T | None:
    """Run one check; a part that failed to start (or fails now) is a FAIL line, not a crash."""
    try:
        return await check
    except HalError as exc:
        report(Check(name, False, str(exc)))
        return None


async def run_selftest(
    hardware: StationHardware, clock: Clock, options: SelfTestOptions, report: Report
) -> list[Check]:
    """Start every part, run the checks, stop every part (always back to the safe state)."""
    results: list[Check] = []

    def record(check: Check) -> None:
        results.append(check)
        report(check)

    started = []
    try:
        for part in hardware.parts():
            try:
                await part.start()
            except HalError as exc:
                record(Check(f"start {type(part).__name__}", False, str(exc)))
                continue
            started.append(part)
        for hw in hardware.connectors:
            cid = hw.connector_id
            no_car = await _guarded(f"connector {cid} cp", record, check_pilot(clock, hw, record))
            if options.relay and no_car:
                await _guarded(
                    f"connector {cid} contactor", record, check_contactor(clock, hw, "contactor", record)
                )
                await _guarded(
                    f"connector {cid} phase switch",
                    record,
                    check_contactor(clock, hw, "phase_switch", record),
                )
            await _guarded(f"connector {cid} rcd", record, check_rcm(hw, record))
            await _guarded(f"connector {cid} lock", record, check_lock(hw, record))
            await _guarded(f"connector {cid} pp", record, check_proximity(hw, record))
            await _guarded(
                f"connector {cid} meter", record, check_meter(f"connector {cid} meter", hw.meter, record)
            )
        if hardware.grid_meter is not None:
            await _guarded("grid meter", record, check_meter("grid meter", hardware.grid_meter, record))
        await _guarded("rfid", record, check_rfid(clock, hardware, options.rfid_timeout_s, record))
    finally:
        for part in reversed(started):
            await part.stop()
    return results
