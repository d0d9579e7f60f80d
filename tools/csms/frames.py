"""What every dev CSMS session does with its frames, for each OCPP version: log each one readably, record it
raw (`--record`), keep the CALLERRORs the CSMS answered, and answer a CALL with a test's raw responder
payload (`DevCsms.respond`) instead of the handler's.

`LoggedFrames` is a mixin placed before the library's `ChargePoint` in a session class; the class sets
`csms`, `link` (the SendHook wrapping its connection, with `_sending` as hook) and `_pending`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ocpp.messages import MessageType, unpack

from tools.csms.link import SendHook

if TYPE_CHECKING:
    from tools.csms.server import DevCsms


class LoggedFrames:
    id: str
    csms: DevCsms
    link: SendHook
    _pending: dict[str, str]  # unique id -> action, for readable result logs

    async def route_message(self, raw_msg: str) -> None:
        self.csms.record_frame(self.id, "in", raw_msg)
        try:
            msg = unpack(raw_msg)
        except Exception:
            self.csms.log_frame(self.id, "CP->CSMS", "UNPARSABLE", raw_msg)
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        if msg.message_type_id == MessageType.Call:
            self._pending[msg.unique_id] = msg.action
            self.csms.record(self.id, msg.action, msg.payload)
            self.csms.log_frame(self.id, "CP->CSMS", f"CALL {msg.action}", msg.payload)
            responder = self.csms.responders.get(msg.action)
            answer = responder(self.id, msg.payload) if responder else None
            if answer is not None:
                await self.link.send(json.dumps([MessageType.CallResult, msg.unique_id, answer]))
                return
        else:
            action = self._pending.pop(msg.unique_id, "?")
            kind = "RESULT" if msg.message_type_id == MessageType.CallResult else "ERROR"
            body = msg.payload if kind == "RESULT" else [msg.error_code, msg.error_description]
            self.csms.log_frame(self.id, "CP->CSMS", f"{kind} {action}", body)
        await super().route_message(raw_msg)  # type: ignore[misc]

    def _sending(self, message: str) -> None:
        self.csms.record_frame(self.id, "out", message)
        frame = json.loads(message)
        if frame[0] == MessageType.Call:
            self._pending[frame[1]] = frame[2]
            self.csms.log_frame(self.id, "CSMS->CP", f"CALL {frame[2]}", frame[3])
        else:
            action = self._pending.pop(frame[1], "?")
            if frame[0] == MessageType.CallError:
                self.csms.call_errors.append((self.id, message))
                self.csms.log_frame(self.id, "CSMS->CP", f"ERROR {action}", frame[2:])
            else:
                self.csms.log_frame(self.id, "CSMS->CP", f"RESULT {action}", frame[2])
