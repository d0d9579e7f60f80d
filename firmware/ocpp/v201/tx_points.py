"""When a 2.0.1 transaction starts and ends: TxCtrlr.TxStartPoint / TxStopPoint evaluated on the EVSE's
conditions (OCPP 2.0.1 E01.FR.01-06 and E06.FR.01-07; docs/reference/ocpp201.md §3).

A transaction starts as soon as any start point holds (PowerPathClosed = authorized and the EV connected)
and ends as soon as any stop point no longer holds (PowerPathClosed: the EV left or the authorization ended).
ParkingBayOccupancy and DataSigned are not offered by this charger (no bay sensor, no signing meter).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TxConditions:
    ev_connected: bool
    authorized: bool
    energy_transfer: bool


def _holds(point: str, c: TxConditions) -> bool:
    if point == "EVConnected":
        return c.ev_connected
    if point == "Authorized":
        return c.authorized
    if point == "PowerPathClosed":
        return c.ev_connected and c.authorized
    if point == "EnergyTransfer":
        return c.energy_transfer
    raise ValueError(f"{point}: not a transaction start/stop point this charger offers")


def start_due(points: Iterable[str], conditions: TxConditions) -> bool:
    """E01.FR.01-06: no transaction yet, and one of the start points holds."""
    return any(_holds(p, conditions) for p in points)


def stop_due(points: Iterable[str], conditions: TxConditions) -> bool:
    """E06.FR.01-07: a transaction runs, and one of the stop points no longer holds."""
    return any(not _holds(p, conditions) for p in points)
