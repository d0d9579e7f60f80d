"""One OCPP 2.0.1 charging station's connection, seen from the development CSMS (tools/csms/server.py).

It answers every message a 2.0.1 station sends (part 2 §1) as an accepting back end does and keeps what a
developer looks at: each request in `DevCsms.received` (camelCase, as on the wire), transactions by the
station's transactionId in `DevCsms.transactions_201` (begun with TransactionEvent Started, the idToken
filled in when it comes, the energy register at the start and end from the events' meter values, the
stoppedReason), and idTokens authorised by the same rules as 1.6 idTags (`DevCsms.tag_status`; a parent
tag is sent as groupIdToken).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection

from tools.csms.basics import Transaction, handles, utc_z
from tools.csms.frames import LoggedFrames
from tools.csms.link import SendHook

if TYPE_CHECKING:
    from tools.csms.server import DevCsms

SUBPROTOCOL_201 = "ocpp2.0.1"
ENERGY = "Energy.Active.Import.Register"  # also the measurand of a sampledValue without one (2.0.1 part 2)


def energy_wh(meter_values: list[dict[str, Any]] | None) -> int | None:
    """The last Energy.Active.Import.Register reading in `meter_values` (snake_case), in Wh."""
    found: int | None = None
    for meter_value in meter_values or []:
        for sample in meter_value.get("sampled_value", []):
            if sample.get("measurand", ENERGY) != ENERGY or sample.get("phase"):
                continue
            unit = sample.get("unit_of_measure") or {}
            scale = (1000 if unit.get("unit") == "kWh" else 1) * 10 ** int(unit.get("multiplier", 0))
            found = round(float(sample["value"]) * scale)
    return found


class CsmsSession201(LoggedFrames, OcppChargePoint):  # type: ignore[misc]  # the ocpp library is untyped
    def __init__(self, cp_id: str, connection: ServerConnection, csms: DevCsms) -> None:
        self.link = SendHook(connection, self._sending)  # what the library sends and recvs through
        super().__init__(cp_id, self.link, response_timeout=csms.response_timeout)
        self.csms = csms
        self.connection = connection
        self._pending: dict[str, str] = {}

    def _id_token_info(self, id_token: dict[str, Any]) -> dict[str, Any]:
        token = id_token.get("id_token", "")
        info: dict[str, Any] = {"status": self.csms.tag_status(token)}
        parent = self.csms.tag_parents.get(token)
        if parent is not None:
            info["group_id_token"] = {"id_token": parent, "type": "Central"}
        return info

    @handles(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=utc_z(self.csms.now()),
                                            interval=self.csms.heartbeat_interval,
                                            status=self.csms.boot_status)

    @handles(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=utc_z(self.csms.now()))

    @handles(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return call_result.Authorize(id_token_info=self._id_token_info(id_token))

    @handles(Action.transaction_event)
    def on_transaction_event(self, event_type: str, timestamp: str, transaction_info: dict[str, Any],
                             evse: dict[str, Any] | None = None, id_token: dict[str, Any] | None = None,
                             meter_value: list[dict[str, Any]] | None = None, **_: Any) -> Any:
        tx_id = transaction_info["transaction_id"]
        transaction = self.csms.transactions_201.get(tx_id)
        if transaction is None:  # Started, or the first event the CSMS sees of it
            transaction = Transaction(tx_id, self.id, (evse or {}).get("id", 0), "",
                                      energy_wh(meter_value) or 0, timestamp)
            self.csms.transactions_201[tx_id] = transaction
        if id_token is not None and not transaction.id_tag:
            transaction.id_tag = id_token.get("id_token", "")
        if event_type == "Ended":
            transaction.meter_stop = energy_wh(meter_value)
            transaction.stopped = timestamp
            transaction.reason = transaction_info.get("stopped_reason", "Local")
        if id_token is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=self._id_token_info(id_token))

    @handles(Action.status_notification)
    def on_status_notification(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @handles(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @handles(Action.notify_event)
    def on_notify_event(self, **_: Any) -> Any:
        return call_result.NotifyEvent()

    @handles(Action.notify_report)
    def on_notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()

    @handles(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()

    @handles(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @handles(Action.log_status_notification)
    def on_log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()

    @handles(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")

    @handles(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> Any:
        return call_result.SignCertificate(status="Rejected")  # the dev CSMS is no certificate authority

    @handles(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> Any:
        return call_result.NotifyChargingLimit()

    @handles(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> Any:
        return call_result.ClearedChargingLimit()

    @handles(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> Any:
        return call_result.ReportChargingProfiles()

    @handles(Action.reservation_status_update)
    def on_reservation_status_update(self, **_: Any) -> Any:
        return call_result.ReservationStatusUpdate()

    @handles(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> Any:
        return call_result.NotifyCustomerInformation()
