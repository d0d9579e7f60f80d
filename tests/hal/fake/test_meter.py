"""The simulated meters integrate energy from the drawn current over simulated time."""

from __future__ import annotations

import pytest

from hal.clock import SimClock
from hal.contract import MeterError
from hal.fake import SimulatedConnector, SimulatedStation
from hal.types import PilotOutput


async def test_energy_integrates_current_times_voltage_over_time() -> None:
    clock = SimClock()
    conn = SimulatedConnector(1, clock, ev_max_current_a=16.0)
    conn.plug()
    conn.pilot.set_output(PilotOutput.pwm(16 / 0.6))
    await clock.advance(1.0)
    conn.contactor.close()
    await clock.advance(3600.0)
    reading = await conn.meter.read()
    assert reading.energy_import_wh == pytest.approx(3 * 16 * 230.0)
    assert reading.current_a == pytest.approx((16.0, 16.0, 16.0))
    assert reading.power_w == pytest.approx((3680.0, 3680.0, 3680.0))
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    # Half an hour at 10 A after the EV follows a lower offer, then the contactor opens: no more energy.
    conn.pilot.set_output(PilotOutput.pwm(10 / 0.6))
    await clock.advance(1.0)
    await clock.advance(1800.0)
    conn.contactor.open()
    await clock.advance(1000.0)
    later = await conn.meter.read()
    expected = 3 * 230.0 * (16 * 3600 + 16 * 1 + 10 * 1800) / 3600
    assert later.energy_import_wh == pytest.approx(expected)


async def test_meter_offline_raises_and_recovers_without_losing_energy() -> None:
    clock = SimClock()
    conn = SimulatedConnector(1, clock)
    conn.plug()
    conn.pilot.set_output(PilotOutput.pwm(50.0))  # 30 A
    await clock.advance(1.0)
    conn.contactor.close()
    conn.inject("meter-offline")
    await clock.advance(60.0)
    with pytest.raises(MeterError):
        await conn.meter.read()
    conn.clear("meter-offline")
    assert (await conn.meter.read()).energy_import_wh == pytest.approx(3 * 30 * 230.0 * 60 / 3600)


async def test_grid_meter_adds_site_load_and_connectors() -> None:
    clock = SimClock()
    conn = SimulatedConnector(1, clock, phases=1)
    station = SimulatedStation(clock, [conn], with_grid_meter=True)
    assert station.grid_meter is not None
    station.grid_meter.set_site_load((10.0, 5.0, 0.0))
    conn.plug()
    conn.pilot.set_output(PilotOutput.pwm(20 / 0.6))
    await clock.advance(1.0)
    conn.contactor.close()
    await clock.advance(3600.0)
    reading = await station.grid_meter.read()
    assert reading.current_a == pytest.approx((30.0, 5.0, 0.0))
    assert reading.energy_import_wh == pytest.approx(230.0 * (15 * 3601 + 20 * 3600) / 3600)
    with pytest.raises(ValueError):
        station.grid_meter.set_site_load((1.0, 2.0))
