"""OCPP 2.0.1 remote control and availability (functional blocks F and G; docs/reference/ocpp201.md §16).

- RequestStartTransaction (F01/F02): the EVSE asked for, else one the station picks (F01.FR.20: a plugged
  EV waiting, else a free EVSE; firmware/ocpp/common/remote_start.py, shared with 1.6), claimed until its
  session starts. Rejected when that EVSE is Unavailable or Faulted (F01.FR.23), already has an authorized
  transaction (F01.FR.24) or is reserved for neither the idToken nor the groupIdToken (F01.FR.21/22); a
  transaction that runs unauthorized (cable first with TxStartPoint EVConnected)
  is named in the answer (F01.FR.13). After the answer the core starts the session: with
  AuthCtrlr.AuthorizeRemoteStart the idToken is authorized first through the 2.0.1 authorizer (local list,
  cache, Authorize; F01.FR.01), else it is used as given (F01.FR.02). The next TransactionEvent has
  triggerReason RemoteStart and the remoteStartId (F01.FR.19/25, F02.FR.01/21;
  firmware/ocpp/v201/transactions.py). Its chargingProfile goes to 2.0.1 smart charging
  (firmware/ocpp/v201/smart_charging.py) before the answer: refused → Rejected with InvalidProfile /
  InvalidSchedule (F01.FR.26), else it becomes the TxProfile of the transaction started on the chosen EVSE
  (F01.FR.10); a station without smart charging ignores it (F01.FR.12).
- RequestStopTransaction (F03): a running transaction → Accepted and the core stops it with reason Remote
  (triggerReason RemoteStop, stoppedReason Remote, F03.FR.02/03/07); any other id → Rejected (F03.FR.08).
- UnlockConnector (F05): UnknownConnector for an EVSE or connector the station does not have (F05.FR.03),
  OngoingAuthorizedTransaction while an authorized session runs (nothing is unlocked or stopped, F05.FR.02),
  else the core's unlock is tried, cable or not (F05.FR.06): Unlocked / UnlockFailed (F05.FR.04/05).
- ChangeAvailability (G03/G04): no evse (or evse 0) = the whole station (G04.FR.01), an EVSE, or its
  connector; Accepted, Scheduled while a transaction runs (applied when the transaction ends, which with
  TxStopPoint EVConnected may be after its session, G03.FR.05, G04.FR.06), an unknown EVSE or connector →
  Rejected. The core keeps the availability across restarts (G03.FR.08,
  G04.FR.09); a change scheduled for the end of a transaction is kept in the 2.0.1 database, so it still
  happens when the station restarts before that end (power loss); the adapter sends the StatusNotification
  of every connector that changed (G03.FR.04).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, SessionStarted
from firmware.ocpp.common.remote_start import RemoteStartClaims
from firmware.ocpp.v201.charge_point import after, on
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.transactions import Transactions201
from firmware.storage.database import StateDatabase
from hal.clock import Clock

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)

CONNECTOR_ID = 1  # one connector per EVSE


class StartProfiles(Protocol):
    """What RequestStartTransaction needs of 2.0.1 smart charging (a `SmartCharging201`)."""

    def accept_start_profile(self, evse_id: int | None, charging_profile: Any,
                             wait_s: float | None = None) -> tuple[bool, str | None]: ...


class Remote201:
    def __init__(self, station: StationApi, clock: Clock, model: DeviceModel, db: StateDatabase,
                 transactions: Transactions201, smart_charging: Callable[[], StartProfiles | None],
                 admits: Callable[[int, str, str | None], bool]) -> None:
        self.station = station
        self._db = db
        self._smart_charging = smart_charging
        self._admits = admits  # a reservation's token may use its EVSE (firmware/ocpp/v201/reservations.py)
        self.model = model
        self.transactions = transactions
        self.claims = RemoteStartClaims(station, clock, lambda: model.integer("TxCtrlr.EVConnectionTimeOut"))
        self._starts: dict[str, tuple[int, dict[str, Any], int]] = {}  # call id → (evse, idToken, id)
        db.execute("CREATE TABLE IF NOT EXISTS ocpp201_inoperative_later (evse_id INTEGER PRIMARY KEY)")
        # EVSEs to make Inoperative when their transaction ends (kept over a restart).
        self._inoperative_later = {int(row[0]) for row in db.execute(
            "SELECT evse_id FROM ocpp201_inoperative_later")}
        self._unsubscribe: Callable[[], None] | None = station.subscribe(self._on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def online(self, cp: ChargePoint201) -> None:
        return None

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted):
            self.claims.release(event.connector_id)
        # Subscribed after the transactions block: it has seen this event already.
        for cid in list(self._inoperative_later):
            if cid not in self.transactions.open:  # the transaction ended
                self._schedule(cid, False)
                self.station.set_available(cid, False)

    def _schedule(self, cid: int, later: bool) -> None:
        """Keep (or forget) that `cid` goes Inoperative when its transaction ends."""
        if (cid in self._inoperative_later) == later:
            return
        if later:
            self._inoperative_later.add(cid)
            self._db.execute("INSERT OR IGNORE INTO ocpp201_inoperative_later (evse_id) VALUES (?)", (cid,))
        else:
            self._inoperative_later.discard(cid)
            self._db.execute("DELETE FROM ocpp201_inoperative_later WHERE evse_id = ?", (cid,))

    # --- RequestStartTransaction / RequestStopTransaction (F01-F03) -----------------------------------
    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, id_token: dict[str, Any], remote_start_id: int,
                                     call_unique_id: str, evse_id: int | None = None,
                                     charging_profile: dict[str, Any] | None = None,
                                     group_id_token: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if evse_id is not None and evse_id not in self.station.connector_ids:
            return call_result.RequestStartTransaction(status="Rejected",
                                                       status_info={"reason_code": "UnknownEvse"})
        chosen = self.claims.claim(evse_id)
        if chosen is None:  # F01.FR.23/24: Unavailable, Faulted or an authorized transaction on it
            return call_result.RequestStartTransaction(status="Rejected")
        # The core admits a token to a reservation by the group its authorization gave: without
        # AuthorizeRemoteStart there is none, so only the reservation's own idToken may use it.
        authorized = self.model.flag("AuthCtrlr.AuthorizeRemoteStart")
        group = group_id_token["id_token"] if group_id_token is not None and authorized else None
        if not self._admits(chosen, id_token["id_token"], group):  # F01.FR.21/22: reserved for another
            self.claims.release(chosen)
            return call_result.RequestStartTransaction(status="Rejected")
        smart = self._smart_charging()
        if charging_profile is not None and smart is not None:  # else ignored (F01.FR.12)
            accepted, code = smart.accept_start_profile(chosen, charging_profile)
            if not accepted:  # F01.FR.26, K05.FR.02, F01.FR.11
                self.claims.release(chosen)
                return call_result.RequestStartTransaction(status="Rejected",
                                                           status_info={"reason_code": code})
        self._starts[call_unique_id] = (chosen, id_token, remote_start_id)
        running = self.transactions.open.get(chosen)  # F01.FR.13: started at the cable, not authorized
        return call_result.RequestStartTransaction(
            status="Accepted", transaction_id=running.transaction_id if running is not None else None)

    @after(Action.request_start_transaction)
    async def after_request_start_transaction(self, call_unique_id: str, **kwargs: Any) -> None:
        # The library runs @after hooks whatever @on answered: act only on an accepted request.
        accepted = self._starts.pop(call_unique_id, None)
        if accepted is None:
            return
        evse, id_token, remote_start_id = accepted
        tag = id_token["id_token"]
        self.transactions.token_types[tag] = id_token["type"]
        self.transactions.remote_start(evse, remote_start_id)
        try:
            started = await self.station.remote_start(
                tag, evse, authorize=self.model.flag("AuthCtrlr.AuthorizeRemoteStart"))  # F01.FR.01/02
        except Exception:  # the hook is a task of its own: its failure must not vanish
            log.exception("remote start on EVSE %s failed", evse)
            started = False
        self.transactions.remote_started(evse, tag, started)
        if not started:
            self.claims.release(evse)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **kwargs: Any) -> Any:
        evse = self.transactions.transaction_of(transaction_id)
        if evse is None:
            return call_result.RequestStopTransaction(status="Rejected")  # F03.FR.08
        self.transactions.remote_stop(evse)
        return call_result.RequestStopTransaction(status="Accepted")  # F03.FR.07

    # --- UnlockConnector (F05) ------------------------------------------------------------------------
    @on(Action.unlock_connector)
    async def on_unlock_connector(self, evse_id: int, connector_id: int, **kwargs: Any) -> Any:
        if evse_id not in self.station.connector_ids or connector_id != CONNECTOR_ID:
            return call_result.UnlockConnector(status="UnknownConnector")  # F05.FR.03
        if self.station.session_of(evse_id) is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")  # F05.FR.02
        result = await self.station.unlock(evse_id)  # F05.FR.06: tried with or without a cable
        if result == "Unlocked":
            return call_result.UnlockConnector(status="Unlocked")  # F05.FR.04
        info = {"reason_code": "NoLock"} if result == "NotSupported" else None
        return call_result.UnlockConnector(status="UnlockFailed", status_info=info)  # F05.FR.05

    # --- ChangeAvailability (G03/G04) -----------------------------------------------------------------
    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None,
                               **kwargs: Any) -> Any:
        target = 0 if evse is None else evse["id"]  # G04.FR.01: no evse = the whole station
        if target != 0 and target not in self.station.connector_ids:
            return call_result.ChangeAvailability(status="Rejected",
                                                  status_info={"reason_code": "UnknownEvse"})
        if evse is not None and evse.get("connector_id") not in (None, CONNECTOR_ID):
            return call_result.ChangeAvailability(status="Rejected",
                                                  status_info={"reason_code": "UnknownConnectorId"})
        operative = operational_status == "Operative"
        results = set()
        for cid in self.station.connector_ids if target == 0 else [target]:
            later = not operative and cid in self.transactions.open
            self._schedule(cid, later)
            if later:  # G03.FR.05: after the transaction, not just its session
                results.add("Scheduled")
            else:
                results.add(self.station.set_available(cid, operative))  # the core: Scheduled in a session
        return call_result.ChangeAvailability(status="Scheduled" if "Scheduled" in results else "Accepted")
