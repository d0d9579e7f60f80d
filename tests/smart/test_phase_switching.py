"""Phase switching against a stand-in for the core's PhaseControl API (the core does not offer it yet).

The stand-in behaves as the core is asked to: the phase count applies at the next main-contactor
closing; a "phase_switching" limit of 0 makes the EV stop and the contactor open 1 s later; when the
pause is lifted the contactor closes again 10 s later (the core's minimum pause)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from firmware.ocpp.v16.smart_profiles import SmartCharging16 as V16
from firmware.settings import Settings
from firmware.smart.phase_switching import PhaseSwitcher
from firmware.smart.service import SmartChargingService
from hal.clock import SimClock
from hal.contract import ConnectorHardware, StationHardware
from tests.smart.fakes import RecordingStation
from tests.smart.helpers import at

T0 = at("2026-01-05T08:00")


class FakeContactor:
    def __init__(self) -> None:
        self.commanded_closed = False


class CoreWithPhaseControl(RecordingStation):
    def __init__(self, clock: SimClock) -> None:
        super().__init__([1])
        self.clock = clock
        self.main = FakeContactor()
        self.requested = 3
        self.closed_with = 3
        self.log: list[str] = []

    def request_phases(self, connector_id: int, phases: int) -> None:
        assert not self.main.commanded_closed, "phases must never change under load"
        self.requested = phases
        self.log.append(f"phases {phases}")

    def phases_in_use(self, connector_id: int) -> int:
        return self.closed_with if self.main.commanded_closed else self.requested

    def close_main(self) -> None:
        self.main.commanded_closed = True
        self.closed_with = self.requested
        self.log.append(f"closed on {self.closed_with}")

    def set_limit(self, source: str, amps: float | None, connector_id: int | None = None) -> None:
        super().set_limit(source, amps, connector_id)
        if source != "phase_switching":
            return
        self.log.append(f"pause {amps}")
        if amps == 0 and self.main.commanded_closed:
            self.clock.call_later(1.0, self._open)
        elif amps is None:
            self.clock.call_later(10.0, self.close_main)

    def _open(self) -> None:
        self.main.commanded_closed = False
        self.log.append("opened")


def tx(limit: float, unit: str = "W", phases: int | None = None) -> dict[str, Any]:
    period: dict[str, Any] = {"start_period": 0, "limit": limit}
    if phases:
        period["number_phases"] = phases
    return {"charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": unit, "charging_schedule_period": [period]}}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[CoreWithPhaseControl, SmartChargingService, SimClock]]:
    clock = SimClock(T0)
    core = CoreWithPhaseControl(clock)
    settings = Settings(connectors=[{"id": 1, "hal": {"phase_switch": {"driver": "fake"}}}],
                        smart_charging={"phase_switch_interval_s": 300, "phase_switch_pause_s": 2,
                                        "min_pause_s": 0})
    hardware = StationHardware([ConnectorHardware(1, pilot=None, contactor=core.main,  # type: ignore[arg-type]
                                                  meter=None, phase_switch=FakeContactor())])  # type: ignore[arg-type]
    service = SmartChargingService(core, clock, tmp_path, settings)  # type: ignore[arg-type]
    switcher = PhaseSwitcher(core, core, clock, settings, hardware, service)  # type: ignore[arg-type]
    await service.start()
    await switcher.start()
    yield core, service, clock
    await switcher.stop()
    await service.stop()


async def test_idle_connector_switches_at_once(rig: Any) -> None:
    core, service, _ = rig
    assert V16(service).configuration_keys()["ConnectorSwitch3to1PhaseSupported"] == "true"
    assert V16(service).install(1, tx(3000), None)[0]
    assert core.log == ["phases 1"]
    assert core.limit("smart_charging", 1) == 13.04  # 3000 W on one phase


async def test_under_load_pause_wait_switch_resume_then_interval(rig: Any) -> None:
    core, service, clock = rig
    core.close_main()
    assert V16(service).install(1, tx(3000), None)[0]
    await clock.settle()
    # At once: the limit holds on the three phases still in use (4.34 A pauses) and the switch pauses.
    assert core.limit("smart_charging", 1) == 4.34
    assert core.limit("phase_switching", 1) == 0
    await clock.advance(1.2)  # the EV stops, the core opens; then the new phase count is requested
    assert core.log == ["closed on 3", "pause 0.0", "opened", "phases 1"]
    assert core.limit("smart_charging", 1) == 13.04
    await clock.advance(2.0)
    assert core.limit("phase_switching", 1) is None
    await clock.advance(10.0)
    assert core.log[-2:] == ["pause None", "closed on 1"]
    # Back to three phases asked explicitly, but not before the interval since the last switch.
    assert V16(service).install(1, tx(11040, phases=3), None)[0]
    await clock.advance(200)
    assert core.phases_in_use(1) == 1
    assert core.limit("smart_charging", 1) == 32.0  # 11040 W on the one phase in use: hardware's 32 A
    await clock.advance(100)
    assert core.log[-3:] == ["opened", "phases 3", "pause None"]
    await clock.advance(13)
    assert core.log[-1] == "closed on 3"
    assert core.limit("smart_charging", 1) == 16.0
