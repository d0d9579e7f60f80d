"""How a vehicle reads the control pilot: PWM duty -> allowed current, and the CP level its S2 switch makes.

Pure functions, shared by the simulated EV and its tests.
"""

from __future__ import annotations

# Positive CP level (V) the EV's resistors produce in each state (nominal EV loading,
# docs/reference/hardware.md §1.3).
EV_LEVEL_V: dict[str, float] = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0}

# Negative half of the PWM when the EV's diode is intact (docs/reference/hardware.md §1.3).
NEGATIVE_LEVEL_V = -12.0


def duty_to_ev_current(duty_percent: float) -> float | None:
    """Current (A per phase) an EV may draw for a PWM duty, or None when the duty allows no basic charging.

    EV-side interpretation table, Fluke FEV300 manual p.11 / Gossen M525B p.12
    (docs/reference/hardware.md §1.2):
    D < 3 % no charging; 3-7 % digital communication (no basic charging); 7-8 % error; 8-10 % 6 A;
    10-85 % D x 0.6; 85-96 % (D - 64) x 2.5; 96-97 % 80 A; above 97 % no charging (x1).
    """
    d = duty_percent
    if d < 8.0:  # no charging, digital communication (3-7 %) or the 7-8 % error band
        return None
    if d < 10.0:
        return 6.0
    if d <= 85.0:
        return d * 3.0 / 5.0  # D x 0.6, written so that 85 % gives exactly 51 A
    if d <= 96.0:
        return (d - 64.0) * 2.5
    if d <= 97.0:
        return 80.0
    return None
