"""Simulated charger hardware and a simulated EV, for tests, the demo and CI (no real parts needed).

Deterministic on an injectable clock: with `SimClock`, every delay (the EV's reaction time) happens only
when the test advances the clock.

The names below load on first use, so that `hal.fake.faults` (the fault names the CLI offers) can be
imported without the simulation itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hal.fake.connector import SimulatedConnector
    from hal.fake.faults import FAULT_NAMES, SimFault
    from hal.fake.station import SimulatedStation

__all__ = ["FAULT_NAMES", "SimFault", "SimulatedConnector", "SimulatedStation"]
_HOME = {"SimulatedConnector": "hal.fake.connector", "FAULT_NAMES": "hal.fake.faults",
         "SimFault": "hal.fake.faults", "SimulatedStation": "hal.fake.station"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
