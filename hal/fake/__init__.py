"""Simulated charger hardware and a simulated EV, for tests, the demo and CI (no real parts needed).

Deterministic on an injectable clock: with `SimClock`, every delay (the EV's reaction time) happens only
when the test advances the clock.
"""

from hal.fake.connector import SimulatedConnector
from hal.fake.faults import FAULT_NAMES, SimFault
from hal.fake.station import SimulatedStation

__all__ = ["FAULT_NAMES", "SimFault", "SimulatedConnector", "SimulatedStation"]
