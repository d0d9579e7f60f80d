"""A minimal OCPP 1.6 charge point on the `ocpp` library, to exercise CSMS harnesses from tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from tools.csms.basics import handles


class MiniChargePoint(ChargePoint):  # type: ignore[misc]
    """Accepts the CSMS-initiated calls the harness tests send and records them."""

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=10)
        self.handled: list[tuple[str, dict[str, Any]]] = []

    @handles(Action.remote_start_transaction)
    def on_remote_start(self, **kw: Any) -> call_result.RemoteStartTransaction:
        self.handled.append(("RemoteStartTransaction", kw))
        return call_result.RemoteStartTransaction(status="Accepted")

    @handles(Action.change_configuration)
    def on_change_configuration(self, **kw: Any) -> call_result.ChangeConfiguration:
        self.handled.append(("ChangeConfiguration", kw))
        return call_result.ChangeConfiguration(status="Accepted")

    @handles(Action.trigger_message)
    def on_trigger_message(self, **kw: Any) -> call_result.TriggerMessage:
        self.handled.append(("TriggerMessage", kw))
        return call_result.TriggerMessage(status="Accepted")

    @handles(Action.reset)
    def on_reset(self, **kw: Any) -> call_result.Reset:
        self.handled.append(("Reset", kw))
        return call_result.Reset(status="Accepted")

    @handles(Action.update_firmware)
    def on_update_firmware(self, **kw: Any) -> call_result.UpdateFirmware:
        self.handled.append(("UpdateFirmware", kw))
        return call_result.UpdateFirmware()

    @handles(Action.set_charging_profile)
    def on_set_charging_profile(self, **kw: Any) -> call_result.SetChargingProfile:
        self.handled.append(("SetChargingProfile", kw))
        return call_result.SetChargingProfile(status="Accepted")


@contextlib.asynccontextmanager
async def mini_charge_point(
    url: str, cp_id: str = "CP_1", **connect_kw: Any
) -> AsyncIterator[MiniChargePoint]:
    async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"], **connect_kw) as ws:  # type: ignore[list-item]
        cp = MiniChargePoint(cp_id, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
