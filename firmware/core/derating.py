"""Temperature derating with hysteresis (OpenEVSE open_evse.h thresholds, docs/reference/hardware.md §4.4).

Levels: 0 full current, 1 half, 2 quarter (never below 6 A), 3 stop (HighTemperature fault).
A level is entered as soon as its threshold is reached and left only once the temperature has fallen a
margin below it; the last step back to full current needs the restore temperature.
"""

from __future__ import annotations

from firmware.settings import TemperatureDerating

RELEASE_MARGIN_C = 2.0  # levels at least 2 °C apart for hysteresis (docs/reference/hardware.md §4.4)
STOP_LEVEL = 3


def level_for(temp_c: float, cfg: TemperatureDerating) -> int:
    if temp_c >= cfg.stop_c:
        return 3
    if temp_c >= cfg.quarter_c:
        return 2
    if temp_c >= cfg.half_c:
        return 1
    return 0


def next_level(temp_c: float, previous: int, cfg: TemperatureDerating) -> int:
    target = level_for(temp_c, cfg)
    if target >= previous:
        return target
    release = {3: cfg.stop_c - RELEASE_MARGIN_C, 2: cfg.quarter_c - RELEASE_MARGIN_C, 1: cfg.restore_c}
    level = previous
    while level > target and temp_c < release[level]:
        level -= 1
    return level


def derated_current(level: int, rated_a: float) -> float | None:
    """The temperature limit for a level, None = no limit (level 0). Level 3 is handled as a fault."""
    if level == 0:
        return None
    if level == 1:
        return rated_a * 0.5
    return max(6.0, rated_a * 0.25)
