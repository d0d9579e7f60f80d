"""The simulated world outlives the controller, as real hardware does: meter register, car, EV state and
faults come back after a restart (clean or killed); `sim reset` and `sim_persist = false` give a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness, HarnessFactory


def world(h: Harness) -> dict[str, Any]:
    assert h.app.simulation is not None
    snapshot: dict[str, Any] = h.app.simulation.snapshot()["connectors"][0]
    return snapshot


async def charged(make_harness: HarnessFactory, short_dir: Path, **kw: Any) -> tuple[Harness, float]:
    h = await make_harness(state_dir=short_dir, **kw)
    h.sim.plug()
    await h.advance(60)
    h.sim.pause()
    h.sim.set_ev_max_current(16)
    h.sim.inject("welded")
    await h.advance(2)
    reading = h.connector().last_reading
    assert reading is not None and reading.energy_import_wh > 300
    return h, reading.energy_import_wh


@pytest.mark.parametrize("ending", ["stopped", "killed"])
async def test_meter_car_and_faults_survive_a_controller_restart(
    make_harness: HarnessFactory, short_dir: Path, ending: str
) -> None:
    first, seen_wh = await charged(make_harness, short_dir)
    if ending == "stopped":
        await first.app.stop()
    # "killed": the first process is abandoned as it is; nothing is flushed
    second = await make_harness(state_dir=short_dir)
    w = world(second)
    assert w["plugged"] and not w["ev_wants_energy"] and w["ev_max_current_a"] == 16
    assert "welded" in w["faults"]
    assert w["energy_wh"] >= seen_wh  # the register never goes back behind a reading the controller saw
    await second.advance(3)
    reading = second.connector().last_reading
    assert reading is not None and reading.energy_import_wh == pytest.approx(w["energy_wh"], abs=0.01)


async def test_sim_reset_gives_a_new_world(make_harness: HarnessFactory, short_dir: Path) -> None:
    first, _ = await charged(make_harness, short_dir)
    await first.app.control.dispatch({"command": "sim", "args": {"action": "reset"}})
    w = world(first)
    assert not w["plugged"] and w["energy_wh"] == 0 and w["faults"] == [] and w["ev_max_current_a"] == 32
    await first.app.stop()
    second = await make_harness(state_dir=short_dir)
    w = world(second)
    assert not w["plugged"] and w["energy_wh"] == 0 and w["faults"] == []


async def test_sim_persist_off_starts_every_run_with_a_new_world(
    make_harness: HarnessFactory, short_dir: Path
) -> None:
    off = {"hal": {"sim_persist": False}}
    first, _ = await charged(make_harness, short_dir, station=off)
    await first.app.stop()
    second = await make_harness(state_dir=short_dir, station=off)
    w = world(second)
    assert not w["plugged"] and w["energy_wh"] == 0 and w["faults"] == []
