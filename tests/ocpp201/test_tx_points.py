"""TxStartPoint / TxStopPoint (OCPP 2.0.1 E01.FR.01-06, E06.FR.01-07), condition by condition."""

from __future__ import annotations

import itertools

import pytest

from firmware.ocpp.v201.tx_points import TxConditions, start_due, stop_due

ALL = [TxConditions(*flags) for flags in itertools.product([False, True], repeat=3)]


@pytest.mark.parametrize("c", ALL)
def test_each_point_alone(c: TxConditions) -> None:
    assert start_due(["EVConnected"], c) == c.ev_connected
    assert start_due(["Authorized"], c) == c.authorized
    assert start_due(["PowerPathClosed"], c) == (c.ev_connected and c.authorized)  # E01.FR.05
    assert start_due(["EnergyTransfer"], c) == c.energy_transfer
    assert stop_due(["EVConnected"], c) == (not c.ev_connected)  # E06.FR.02
    assert stop_due(["Authorized"], c) == (not c.authorized)  # E06.FR.03/04
    assert stop_due(["PowerPathClosed"], c) == (not c.ev_connected or not c.authorized)  # E06.FR.06
    assert stop_due(["EnergyTransfer"], c) == (not c.energy_transfer)  # E06.FR.07


def test_the_1_6_compatible_defaults() -> None:
    plugged = TxConditions(ev_connected=True, authorized=False, energy_transfer=False)
    both = TxConditions(ev_connected=True, authorized=True, energy_transfer=False)
    assert not start_due(["PowerPathClosed"], plugged) and start_due(["PowerPathClosed"], both)
    stop = ["EVConnected", "Authorized"]
    assert not stop_due(stop, both)
    assert stop_due(stop, TxConditions(ev_connected=False, authorized=True, energy_transfer=False))
    assert stop_due(stop, TxConditions(ev_connected=True, authorized=False, energy_transfer=True))


def test_several_start_points_start_at_the_first() -> None:
    plugged = TxConditions(ev_connected=True, authorized=False, energy_transfer=False)
    assert start_due(["EVConnected", "Authorized"], plugged)
    assert not start_due([], plugged)


def test_an_unoffered_point_is_an_error() -> None:
    with pytest.raises(ValueError, match="ParkingBayOccupancy"):
        start_due(["ParkingBayOccupancy"], ALL[0])
