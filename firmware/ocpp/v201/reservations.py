"""OCPP 2.0.1 reservations (functional block H; docs/reference/ocpp201.md §18) on the core's connector
reservation (`station.reserve` / `cancel_reservation`, as 1.6 uses them).

- ReserveNow (H01): Rejected while ReservationCtrlr.Enabled is false (H01.FR.01), for an EVSE the station
  does not have, a connectorType no EVSE has, or an expiryDateTime already past; without evseId a free EVSE
  is taken when ReservationCtrlr.NonEvseSpecific is true (H01.FR.04/18), else Rejected (H01.FR.19). The
  core answers Accepted, Occupied, Faulted or Unavailable (H01.FR.11/12/14); the same id replaces the old
  reservation (H01.FR.02). One for any EVSE holds a free one and moves to another free one when a different
  token wants it, so one EVSE stays available for its token (H01.FR.07, the core's reservation). The
  reservation admits its idToken or a token of its groupIdToken; the
  StatusNotification Reserved follows from the connector state (H01.FR.23), the reservationId goes in the
  TransactionEvent of the transaction that uses it (H01.FR.15, firmware/ocpp/v201/transactions.py).
- CancelReservation (H02): Accepted when the id is a reservation here (it ends, H02.FR.02), else Rejected
  (H02.FR.01).
- ReservationStatusUpdate (H04): Expired when a reservation ran out (H04.FR.01), Removed when its EVSE became
  Faulted or Unavailable (the reservation is cancelled then, H01.FR.16/17); queued in the durable outbox.
- The reservations are kept in the 2.0.1 database and hold again after a restart (B01.FR.13).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.core.authorization import Reservation
from firmware.core.events import CoreEvent, SessionStarted, StatusChanged
from firmware.core.vocabulary import ConnectorState
from firmware.ocpp.common.outbox import Outbox
from firmware.ocpp.common.timefmt import parse_ocpp_time
from firmware.ocpp.v201.charge_point import on
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

STATUS_UPDATE = "ReservationStatusUpdate"
ENDS_RESERVATION = (ConnectorState.FAULTED, ConnectorState.UNAVAILABLE)


@dataclass(frozen=True)
class _Held:
    requested: int  # the EVSE asked for; 0: any (the core moves it to keep one free, H01.FR.07)
    id_tag: str
    group: str | None


class Reservations201:
    def __init__(self, station: StationApi, clock: Clock, model: DeviceModel, db: StateDatabase,
                 outbox: Outbox, wake: Callable[[], None], token_types: dict[str, str]) -> None:
        self.station = station
        self._db = db
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_reservations (id INTEGER PRIMARY KEY, evse_id INTEGER "
                   "NOT NULL, id_tag TEXT NOT NULL, group_tag TEXT, expires_at TEXT NOT NULL)")
        db.commit()
        self.clock = clock
        self.model = model
        self.outbox = outbox
        self._wake = wake
        self._token_types = token_types
        self.held: dict[int, _Held] = {}  # reservation id → where, for whom
        self._timers: dict[int, asyncio.Task[None]] = {}  # reservation id → its expiry
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    def start(self) -> None:
        """After the station started: the reservations held before the restart hold again (B01.FR.13); one
        that ran out meanwhile is Expired, one its EVSE can no longer take (now Faulted, Unavailable or
        Occupied) is Removed."""
        rows = self._db.execute("SELECT id, evse_id, id_tag, group_tag, expires_at FROM ocpp201_reservations")
        for rid, evse_id, tag, group, expires_at in rows.fetchall():
            expires = parse_ocpp_time(expires_at)
            left = (expires - self.clock.now()).total_seconds() if expires is not None else 0.0
            if left > 0 and self._hold(rid, evse_id, tag, group, left) == "Accepted":
                continue
            self._delete(rid)
            self._update(rid, "Expired" if left <= 0 else "Removed")

    def stop(self) -> None:
        """The reservations stay in the database for the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _hold(self, rid: int, evse_id: int, tag: str, group: str | None, left: float) -> str:
        """Reserve in the core for `left` seconds; tracked (and its expiry timed) when Accepted."""
        status = self.station.reserve(evse_id, Reservation(rid, tag, group, self.clock.monotonic() + left))
        if status == "Accepted":
            self.held[rid] = _Held(evse_id, tag, group)
            self._timers[rid] = asyncio.ensure_future(self._expire_after(rid, left))
        return status

    def _delete(self, reservation_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM ocpp201_reservations WHERE id = ?", (reservation_id,))

    def _forget(self, reservation_id: int) -> bool:
        """Stop tracking a reservation (used, cancelled, replaced, removed or expired); False if unknown."""
        timer = self._timers.pop(reservation_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        self._delete(reservation_id)
        return self.held.pop(reservation_id, None) is not None

    async def _expire_after(self, reservation_id: int, seconds: float) -> None:
        """H04.FR.01: the reservation ran out unused (also with an EV plugged in, when the connector never
        showed Reserved): it ends and the CSMS hears Expired."""
        await self.clock.sleep(seconds)
        if self._forget(reservation_id):
            self.station.cancel_reservation(reservation_id)  # the core may have ended it already
            self._update(reservation_id, "Expired")

    async def online(self, cp: ChargePoint201) -> None:
        return None  # ReservationStatusUpdate goes out through the outbox delivery

    # --- ReserveNow (H01) / CancelReservation (H02) ---------------------------------------------------
    @on(Action.reserve_now)
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                       evse_id: int | None = None, connector_type: str | None = None,
                       group_id_token: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not self.model.flag("ReservationCtrlr.Enabled"):
            return call_result.ReserveNow(status="Rejected")  # H01.FR.01
        expires = parse_ocpp_time(expiry_date_time)
        left = (expires - self.clock.now()).total_seconds() if expires is not None else 0.0
        if left <= 0:
            return call_result.ReserveNow(status="Rejected", status_info={"reason_code": "InvalidValue"})
        if evse_id is None:
            if not self.model.flag("ReservationCtrlr.NonEvseSpecific"):
                return call_result.ReserveNow(status="Rejected")  # H01.FR.19
        elif evse_id not in self.station.connector_ids:
            return call_result.ReserveNow(status="Rejected", status_info={"reason_code": "UnknownEvse"})
        targets = self.station.connector_ids if evse_id is None else [evse_id]
        if connector_type is not None and not any(
                self.model.text(f"EVSE#{e}/1.Connector.ConnectorType") == connector_type for e in targets):
            return call_result.ReserveNow(status="Rejected",
                                          status_info={"reason_code": "UnknownConnectorType"})
        tag = id_token["id_token"]
        self._token_types[tag] = id_token["type"]
        group = group_id_token["id_token"] if group_id_token is not None else None
        if self._forget(id):  # H01.FR.02: the same id replaces the old one
            self.station.cancel_reservation(id)
        status = self._hold(id, evse_id or 0, tag, group, left)
        if status == "Accepted":  # B01.FR.13: kept across a restart
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO ocpp201_reservations VALUES (?, ?, ?, ?, ?)",
                                 (id, self.held[id].requested, tag, group, expiry_date_time))
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        self._forget(reservation_id)
        accepted = self.station.cancel_reservation(reservation_id)  # H02.FR.01/02
        return call_result.CancelReservation(status="Accepted" if accepted else "Rejected")

    def reservation_on(self, evse_id: int) -> int | None:
        """The id of the reservation held on an EVSE (the core says where: one for any EVSE moves)."""
        if not self.held:
            return None
        return next((c["reservation_id"] for c in self.station.snapshot()["connectors"]
                     if c["id"] == evse_id and c["reservation_id"] in self.held), None)

    def admits(self, evse_id: int, id_tag: str, group: str | None) -> bool:
        """Whether a token (and its groupIdToken) may use an EVSE: free, reserved for it (F01.FR.21/22), or
        held by a reservation for any EVSE that another free EVSE can take over (H01.FR.07)."""
        rid = self.reservation_on(evse_id)
        if rid is None:
            return True
        held = self.held[rid]
        if id_tag == held.id_tag or (held.group is not None and group == held.group):
            return True
        return held.requested == 0 and any(
            c["id"] != evse_id and c["state"] == ConnectorState.AVAILABLE
            for c in self.station.snapshot()["connectors"])

    # --- ReservationStatusUpdate (H04) ----------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted) and event.reservation_id is not None:
            self._forget(event.reservation_id)  # used: its TransactionEvent says so
        elif isinstance(event, StatusChanged):
            self._status_changed(event)

    def _status_changed(self, event: StatusChanged) -> None:
        reservation_id = self.reservation_on(event.connector_id)
        if reservation_id is None:
            return
        if event.state in ENDS_RESERVATION:  # H01.FR.16/17
            self._forget(reservation_id)
            self.station.cancel_reservation(reservation_id)
            self._update(reservation_id, "Removed")

    def _update(self, reservation_id: int, status: str) -> None:
        log.info("reservation %d %s", reservation_id, status)
        self.outbox.push(STATUS_UPDATE, {"reservation_id": reservation_id,
                                         "reservation_update_status": status})
        self._wake()
