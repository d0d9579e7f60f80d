"""DataTransfer in OCPP 2.0.1, both ways (P01, P02), on the common vendor handlers
(firmware/ocpp/common/data_transfer.py).

* P01 (CSMS → station): the registered handler of the vendorId and messageId answers (`data` is any JSON
  value in 2.0.1); no handler for the vendor → UnknownVendorId, for the message → UnknownMessageId
  (P01.FR.05/06). Built in: vendorId `chargepi`, messageId `Status` answers the status document
  (`chargepi status --json`) as an object.
* P02 (station → CSMS): `send(vendor_id, message_id, data)` for vendor modules, when registered; the
  CSMS's answer (status, data) is returned. It is not queued: a vendor message has no guaranteed delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action
from websockets.exceptions import ConnectionClosed

from firmware.ocpp.common.data_transfer import DataTransferHandler, DataTransferHandlers
from firmware.ocpp.v201.charge_point import on

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

VENDOR = "chargepi"


class DataTransfer201:
    def __init__(self, snapshot: Callable[[], dict[str, Any]],
                 connection: Callable[[], ChargePoint201 | None], online: Callable[[], bool]) -> None:
        self.handlers = DataTransferHandlers()
        self._connection = connection
        self._online = online
        self.handlers.register(VENDOR, "Status", lambda data: ("Accepted", snapshot()))

    def register(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self.handlers.register(vendor_id, message_id, handler)

    async def online(self, cp: ChargePoint201) -> None:
        return None

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None,
                         **kwargs: Any) -> Any:
        status, reply = self.handlers.answer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=reply)

    async def send(self, vendor_id: str, message_id: str | None = None, data: Any = None) -> tuple[str, Any]:
        """P02: a DataTransfer to the CSMS; (status, data) of its answer. ConnectionError when the station is
        not registered with a CSMS now; an OCPPError for a CALLERROR answer."""
        cp = self._connection()
        if cp is None or not self._online():
            raise ConnectionError("not registered with a CSMS")
        try:
            answer = await cp.call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data),
                                   suppress=False)
        except ConnectionClosed as closed:
            raise ConnectionError("the connection to the CSMS closed") from closed
        return str(answer.status), answer.data
