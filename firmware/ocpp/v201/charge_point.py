"""The OCPP 2.0.1 charge point on one websocket (subprotocol `ocpp2.0.1`), on the `ocpp` library.

It carries provisioning: BootNotification (with its reason; the answer's interval becomes
OCPPCommCtrlr.HeartbeatInterval), Heartbeat, and the device-model requests (GetVariables, SetVariables,
GetBaseReport, GetReport → NotifyReport parts sent one after another once the answer is out). The handlers
of the functional blocks (firmware/ocpp/v201/feature.py) join the library's route map of this connection.

Frames are parsed, checked and answered by the common OCPP-J framing (firmware/ocpp/common/framing.py: a
CALLERROR for every bad frame that is not a response, the rate limit, the audit trail), with the 2.0.1
error codes; requests are schema-checked by firmware/ocpp/v201/validation.py. A request over
BytesPerMessage[...] is refused with CALLERROR FormatViolation before its payload is looked at (B06.FR.17,
B08.FR.18). Handlers take `**kwargs` so optional fields (customData) never turn into an InternalError.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from ocpp.routing import after as _after
from ocpp.routing import create_route_map
from ocpp.routing import on as _on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.typing import Subprotocol

from firmware.ocpp.common.framing import FrameContext, FrameRules, OcppJFraming
from firmware.ocpp.v201.device_model.keys import AttributeKey
from firmware.ocpp.v201.provisioning import Provisioning
from firmware.ocpp.v201.validation import VERSION, validate_request

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp2.0.1")
RULES = FrameRules(VERSION, frozenset(action.value for action in Action), validate_request, {})
F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.on` (the library ships no type hints)."""
    return cast(Callable[[F], F], _on(action))


def after(action: str) -> Callable[[F], F]:
    """Typed wrapper of `ocpp.routing.after`: runs as a task once the answer was sent."""
    return cast(Callable[[F], F], _after(action))


class ChargePoint201(OcppJFraming, ChargePoint):  # type: ignore[misc]
    rules = RULES

    def __init__(self, identity: str, connection: Any, framing: FrameContext, provisioning: Provisioning,
                 vendor: str, model: str, serial_number: str, firmware_version: str,
                 response_timeout: float = 30, features: Sequence[object] = ()) -> None:
        super().__init__(identity, connection, response_timeout=response_timeout)
        for feature in features:
            for action, route in create_route_map(feature).items():
                if action in self.route_map:
                    raise ValueError(f"{action} is answered twice ({type(feature).__name__} and another)")
                self.route_map[action] = route
        self._init_framing(connection, framing)
        self.provisioning = provisioning
        self._station = {"vendor_name": vendor, "model": model, "serial_number": serial_number,
                         "firmware_version": firmware_version}
        self._pending: dict[int, list[dict[str, Any]]] = {}  # NotifyReport parts per report requestId

    # --- station → CSMS ------------------------------------------------------------------------------
    async def boot(self, reason: str) -> Any:
        """BootNotification; an accepted answer's interval becomes the heartbeat interval."""
        answer = await self.call(call.BootNotification(charging_station=self._station, reason=reason),
                                 suppress=False)
        if answer.status == "Accepted" and answer.interval > 0:
            model = self.provisioning.model
            model.store(AttributeKey(model.resolve_text("OCPPCommCtrlr.HeartbeatInterval").variable),
                        str(answer.interval))
        return answer

    async def heartbeat(self) -> str:
        answer = await self.call(call.Heartbeat(), suppress=False)
        return cast(str, answer.current_time)

    # --- the frame, before its payload is looked at -----------------------------------------------
    def _refusal(self, action: str, raw: str) -> tuple[str, str] | None:
        limit = self.provisioning.byte_limit(action)
        size = len(raw.encode())
        if limit is None or size <= limit:
            return None
        log.warning("%s of %d bytes refused (BytesPerMessage %d)", action, size, limit)
        return "FormatViolation", f"message larger than BytesPerMessage ({limit})"

    # --- device model (B05-B08) ---------------------------------------------------------------------
    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        results = self.provisioning.get_variables(get_variable_data)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        results = self.provisioning.set_variables(set_variable_data)
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> Any:
        report = self.provisioning.get_base_report(request_id, report_base)
        self._pending[request_id] = report.parts
        return call_result.GetBaseReport(status=report.status)

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id: int, **kwargs: Any) -> None:
        await self._send_parts(request_id)

    @on(Action.get_report)
    def on_get_report(self, request_id: int, component_criteria: list[str] | None = None,
                      component_variable: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        report = self.provisioning.get_report(request_id, component_criteria, component_variable)
        self._pending[request_id] = report.parts
        return call_result.GetReport(status=report.status)

    @after(Action.get_report)
    async def after_get_report(self, request_id: int, **kwargs: Any) -> None:
        await self._send_parts(request_id)

    async def _send_parts(self, request_id: int) -> None:
        parts = self._pending.pop(request_id, [])
        try:
            for part in parts:
                await self.call(call.NotifyReport(**part), suppress=False)
        except Exception:  # the hook is a task of its own: its failure must not vanish
            log.exception("NotifyReport not delivered")
