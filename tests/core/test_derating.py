"""Temperature derating levels and their hysteresis."""

from firmware.core.derating import derated_current, next_level
from firmware.settings import TemperatureDerating

CFG = TemperatureDerating()


def walk(temps):
    level, out = 0, []
    for t in temps:
        level = next_level(t, level, CFG)
        out.append(level)
    return out


def test_levels_rise_at_thresholds():
    assert walk([60, 65, 68, 71]) == [0, 1, 2, 3]


def test_levels_fall_only_below_release_points():
    # stop at 71; leaves stop below 69; leaves quarter below 66; full only below 62 (restore)
    assert walk([71, 70, 68.9, 67, 65.9, 64, 62.5, 61.9]) == [3, 3, 2, 2, 1, 1, 1, 0]


def test_no_flapping_around_a_threshold():
    assert walk([65, 64.9, 65, 64.9, 64]) == [1, 1, 1, 1, 1]


def test_derated_currents():
    assert derated_current(0, 32) is None
    assert derated_current(1, 32) == 16
    assert derated_current(2, 32) == 8
    assert derated_current(2, 16) == 6  # quarter of 16 is 4: never below 6 A
