"""The dev CSMS at the keyboard: type a CSMS→charger call, see the charger's answer.

`python -m tools.csms --console` reads commands from stdin while it serves:

    chargers                                   the charge points connected now (and their OCPP version)
    actions                                    every call that can be sent, with its fields
    Reset type=Soft                            to the only connected charger
    CP-0001 RemoteStartTransaction idTag=04A2B3C4 connectorId=1
    CP-0001 ChangeConfiguration key=HeartbeatInterval value=60
    CP-0001 SetChargingProfile {"connectorId": 1, "csChargingProfiles": {...}}
    help / quit

Fields are written as on the wire (camelCase), `name=value`; a value is read as JSON (numbers, true,
objects, lists) unless the field is text, and as text otherwise; or give the whole payload as one JSON
object.
The answer is printed as JSON; a CALLERROR as its code and description. A 2.0.1 charger takes the 2.0.1
calls (`CP-2 GetVariables {"getVariableData": [...]}`, `RequestStartTransaction idToken=...`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO

from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v201 import call as call_201

from tools.csms.server import SUBPROTOCOL, DevCsms
from tools.csms.session201 import SUBPROTOCOL_201

# OCPP 1.6 calls a central system sends to a charge point (every feature profile).
CSMS_CALLS = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
)
# OCPP 2.0.1 requests a CSMS sends to a charging station (part 2 §1, every functional block).
CSMS_CALLS_201 = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
    "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
    "DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule",
    "GetDisplayMessages", "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog",
    "GetMonitoringReport", "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
    "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow", "Reset",
    "SendLocalList", "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel",
    "SetNetworkProfile", "SetVariableMonitoring", "SetVariables", "TriggerMessage", "UnlockConnector",
    "UnpublishFirmware", "UpdateFirmware",
)


@dataclass(frozen=True)
class Version:
    name: str
    module: ModuleType  # the library's `call` classes of the version
    calls: tuple[str, ...]


V16 = Version("1.6", call, CSMS_CALLS)
V201 = Version("2.0.1", call_201, CSMS_CALLS_201)
VERSIONS = {SUBPROTOCOL: V16, SUBPROTOCOL_201: V201}
ANY_CALL = frozenset(CSMS_CALLS + CSMS_CALLS_201)


class CommandError(Exception):
    """A line that cannot be sent; the message says why."""


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def fields_of(action: str, version: Version = V16) -> list[str]:
    """The payload fields of an action, camelCase, required ones first (optional ones end in `?`)."""
    payload_class = getattr(version.module, action)
    out = []
    for f in dataclasses.fields(payload_class):
        optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        out.append(snake_to_camel_case({f.name: None}).popitem()[0] + ("?" if optional else ""))
    return sorted(out, key=lambda name: name.endswith("?"))


def parse(line: str, connected: Mapping[str, Version]) -> tuple[str, Version, str, dict[str, Any]]:
    """(charge point id, its OCPP version, action, camelCase payload) for one typed command."""
    words = shlex.split(line, posix=True) if "{" not in line else line.split(None, 2)
    if words and words[0] not in ANY_CALL:
        cp_id, words = words[0], words[1:]
        if "{" in line:  # split again after the charge point id: the JSON object stays whole
            words = line.split(None, 2)[1:]
    elif len(connected) == 1:
        cp_id = next(iter(connected))
    else:
        raise CommandError("say which charger: " + (", ".join(sorted(connected)) or "none is connected"))
    version = connected.get(cp_id, V16)
    if not words or words[0] not in version.calls:
        raise CommandError(f"unknown OCPP {version.name} call {words[0] if words else ''!r}; "
                           "`actions` lists them")
    action, rest = words[0], words[1:]
    payload: dict[str, Any] = {}
    if rest and rest[0].lstrip().startswith("{"):
        payload = _value(" ".join(rest))
        if not isinstance(payload, dict):
            raise CommandError("the payload is not a JSON object")
    else:
        text_fields = {snake_to_camel_case({f.name: None}).popitem()[0]
                       for f in dataclasses.fields(getattr(version.module, action))
                       if f.type in (str, "str")}
        for item in rest:
            name, sep, text = item.partition("=")
            if not sep:
                raise CommandError(f"{item!r}: expected name=value")
            payload[name] = text if name in text_fields else _value(text)
    return cp_id, version, action, payload


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
        connected = {cp_id: VERSIONS[session.connection.subprotocol or SUBPROTOCOL]
                     for cp_id, session in self.csms.connected.items()}
        if line == "chargers":
            return "\n".join(cp_id if version is V16 else f"{cp_id} (OCPP {version.name})"
                             for cp_id, version in sorted(connected.items())) or "no charger is connected"
        if line == "actions":
            return "\n".join(self._actions(set(connected.values()) or {V16}))
        try:
            cp_id, version, action, payload = parse(line, connected)
            try:
                request = getattr(version.module, action)(**camel_to_snake_case(payload))
            except TypeError as exc:
                fields = " ".join(fields_of(action, version))
                raise CommandError(f"{action}: {exc}; fields: {fields}") from None
            answer = await self.csms.call(cp_id, request)
        except CommandError as exc:
            return f"error: {exc}"
        except OCPPError as exc:
            return f"CALLERROR {exc.code}: {exc.description}"
        except (ConnectionError, TimeoutError) as exc:
            return f"error: {exc or 'no answer in time'}"
        return json.dumps(snake_to_camel_case(remove_nones(dataclasses.asdict(answer))), default=str)

    @staticmethod
    def _actions(versions: set[Version]) -> list[str]:
        lines: list[str] = []
        for version in (V16, V201):
            if version in versions:
                if len(versions) > 1:
                    lines.append(f"# OCPP {version.name}")
                lines += [f"{a} {' '.join(fields_of(a, version))}" for a in version.calls]
        return lines

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
