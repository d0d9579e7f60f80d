"""Which connector a CSMS remote start takes (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction).

The connector asked for, else a plugged car waiting for a token, else a free one; it stays claimed until its
session starts (the adapter releases it on SessionStarted) or the connection timeout passes, so two requests
without a connector never pick the same one. A connector with a session, Unavailable or Faulted is never
chosen (2.0.1 F01.FR.23/24)."""

from __future__ import annotations

from collections.abc import Callable

from firmware.core.api import StationApi
from firmware.core.vocabulary import ConnectorState
from hal.clock import Clock


class RemoteStartClaims:
    def __init__(self, station: StationApi, clock: Clock, timeout_s: Callable[[], float]) -> None:
        self._station = station
        self._clock = clock
        self._timeout_s = timeout_s
        self._claims: dict[int, float] = {}  # connector -> monotonic end of a remote start's claim

    def claim(self, connector_id: int | None) -> int | None:
        """The connector that will take the remote start, claimed; None (Rejected) when none can."""
        now = self._clock.monotonic()
        self._claims = {c: until for c, until in self._claims.items() if until > now}
        station = self._station
        candidates = [connector_id] if connector_id is not None else sorted(
            station.connector_ids, key=lambda c: station.state_of(c) != ConnectorState.PREPARING)
        for candidate in candidates:
            if candidate in self._claims or station.session_of(candidate) is not None:
                continue
            if station.state_of(candidate) in (ConnectorState.UNAVAILABLE, ConnectorState.FAULTED):
                continue
            self._claims[candidate] = now + self._timeout_s()
            return candidate
        return None

    def release(self, connector_id: int) -> None:
        self._claims.pop(connector_id, None)
