"""The dev CSMS at the keyboard: type a CSMS→charger call, see the charger's answer.

`python -m tools.csms --console` reads commands from stdin while it serves:

    chargers                                   the charge points connected now
    actions                                    every call that can be sent, with its fields
    Reset type=Soft                            to the only connected charger
    CP-0001 RemoteStartTransaction idTag=04A2B3C4 connectorId=1
    CP-0001 ChangeConfiguration key=HeartbeatInterval value=60
    CP-0001 SetChargingProfile {"connectorId": 1, "csChargingProfiles": {...}}
    help / quit

Fields are written as on the wire (camelCase), `name=value`; a value is read as JSON (numbers, true,
objects, lists) unless the field is text, and as text otherwise; or give the whole payload as one JSON
object.
The answer is printed as JSON; a CALLERROR as its code and description.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
import sys
from typing import Any, TextIO

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from tools.csms.server import DevCsms

# OCPP 1.6 calls a central system sends to a charge point (every feature profile).
CSMS_CALLS = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
)


class CommandError(Exception):
    """A line that cannot be sent; the message says why."""


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def fields_of(action: str) -> list[str]:
    """The payload fields of an action, camelCase, required ones first (optional ones end in `?`)."""
    payload_class = getattr(call, action)
    out = []
    for f in dataclasses.fields(payload_class):
        optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        out.append(snake_to_camel_case({f.name: None}).popitem()[0] + ("?" if optional else ""))
    return sorted(out, key=lambda name: name.endswith("?"))


def parse(line: str, connected: list[str]) -> tuple[str, str, dict[str, Any]]:
    """(charge point id, action, camelCase payload) for one typed command."""
    words = shlex.split(line, posix=True) if "{" not in line else line.split(None, 2)
    if words and words[0] not in CSMS_CALLS:
        cp_id, words = words[0], words[1:]
        if "{" in line:  # split again after the charge point id: the JSON object stays whole
            words = line.split(None, 2)[1:]
    elif len(connected) == 1:
        cp_id = connected[0]
    else:
        raise CommandError("say which charger: " + (", ".join(connected) or "none is connected"))
    if not words or words[0] not in CSMS_CALLS:
        raise CommandError(f"unknown call {words[0] if words else ''!r}; `actions` lists them")
    action, rest = words[0], words[1:]
    payload: dict[str, Any] = {}
    if rest and rest[0].lstrip().startswith("{"):
        payload = _value(" ".join(rest))
        if not isinstance(payload, dict):
            raise CommandError("the payload is not a JSON object")
    else:
        text_fields = {snake_to_camel_case({f.name: None}).popitem()[0]
                       for f in dataclasses.fields(getattr(call, action)) if f.type in (str, "str")}
        for item in rest:
            name, sep, text = item.partition("=")
            if not sep:
                raise CommandError(f"{item!r}: expected name=value")
            payload[name] = text if name in text_fields else _value(text)
    return cp_id, action, payload


class Console:
    """Runs typed commands against a DevCsms; `execute` returns the text to print."""

    def __init__(self, csms: DevCsms) -> None:
        self.csms = csms

    async def execute(self, line: str) -> str:
        line = line.strip()
        if not line or line.startswith("#"):
            return ""
        if line in ("help", "?"):
            return __doc__ or ""
        if line == "chargers":
            return "\n".join(sorted(self.csms.connected)) or "no charger is connected"
        if line == "actions":
            return "\n".join(f"{a} {' '.join(fields_of(a))}" for a in CSMS_CALLS)
        try:
            cp_id, action, payload = parse(line, sorted(self.csms.connected))
            try:
                request = getattr(call, action)(**camel_to_snake_case(payload))
            except TypeError as exc:
                raise CommandError(f"{action}: {exc}; fields: {' '.join(fields_of(action))}") from None
            answer = await self.csms.call(cp_id, request)
        except CommandError as exc:
            return f"error: {exc}"
        except OCPPError as exc:
            return f"CALLERROR {exc.code}: {exc.description}"
        except (ConnectionError, TimeoutError) as exc:
            return f"error: {exc or 'no answer in time'}"
        return json.dumps(snake_to_camel_case(dataclasses.asdict(answer)), default=str)

    async def run(self, source: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
        """Read commands until end of input or `quit`."""
        loop = asyncio.get_running_loop()
        print("dev CSMS console: `help` for the commands", file=out, flush=True)
        while True:
            line = await loop.run_in_executor(None, source.readline)
            if not line or line.strip() in ("quit", "exit"):
                return
            text = await self.execute(line)
            if text:
                print(text, file=out, flush=True)
