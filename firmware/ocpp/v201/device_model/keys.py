"""The text address of one attribute of one variable, as used in `[ocpp.device_model]` and the docs.

    [EVSE#<evse>[/<connector>].]<Component>[[<instance>]].<Variable>[[<instance>]][:<AttributeType>]

- `OCPPCommCtrlr.HeartbeatInterval`: a station-level component;
- `OCPPCommCtrlr.MessageAttempts[TransactionEvent]`: a variable instance;
- `EVSE#1.EVSE.Power`, `EVSE#2.RCD.Available`: components of EVSE 1 / 2 (`evse.id`);
- `EVSE#1/1.Connector.ConnectorType`: a component of connector 1 of EVSE 1 (`evse.connectorId`);
- `...:MaxSet`: another attribute than Actual.

Spec names are case sensitive on the wire; `parse` also accepts any case (environment variables arrive
lower-cased) when given the names it may match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast, get_args

from firmware.ocpp.v201.device_model.definitions import AttributeType

_KEY = re.compile(
    r"^(?:EVSE#(?P<evse>\d+)(?:/(?P<connector>\d+))?\.)?"
    r"(?P<component>[A-Za-z0-9_-]+)(?:\[(?P<cinstance>[^\]]+)\])?\."
    r"(?P<variable>[A-Za-z0-9_-]+)(?:\[(?P<vinstance>[^\]]+)\])?"
    r"(?::(?P<attribute>[A-Za-z]+))?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class ComponentKey:
    name: str
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    def text(self) -> str:
        scope = ""
        if self.evse is not None:
            scope = f"EVSE#{self.evse}" + (f"/{self.connector}" if self.connector is not None else "") + "."
        return scope + self.name + (f"[{self.instance}]" if self.instance else "")

    def wire(self) -> dict[str, object]:
        """ComponentType (snake_case keys, as the `ocpp` library's dataclasses take them)."""
        out: dict[str, object] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        if self.evse is not None:
            evse: dict[str, object] = {"id": self.evse}
            if self.connector is not None:
                evse["connector_id"] = self.connector
            out["evse"] = evse
        return out


@dataclass(frozen=True, slots=True, order=True)
class VariableKey:
    component: ComponentKey
    name: str
    instance: str | None = None

    def text(self) -> str:
        return f"{self.component.text()}.{self.name}" + (f"[{self.instance}]" if self.instance else "")

    def wire(self) -> dict[str, object]:
        """VariableType (snake_case keys)."""
        return {"name": self.name, **({"instance": self.instance} if self.instance else {})}


@dataclass(frozen=True, slots=True, order=True)
class AttributeKey:
    variable: VariableKey
    type: AttributeType = "Actual"

    def text(self) -> str:
        return self.variable.text() + ("" if self.type == "Actual" else f":{self.type}")


class BadKey(ValueError):
    """Text that is not an attribute address; the message shows the syntax."""


SYNTAX = "[EVSE#<evse>[/<connector>].]<Component>[[<instance>]].<Variable>[[<instance>]][:<AttributeType>]"


def parse(text: str) -> AttributeKey:
    match = _KEY.match(text.strip())
    if match is None:
        raise BadKey(f"{text!r} is not a device-model key ({SYNTAX})")
    if match["connector"] is not None and match["evse"] is None:
        raise BadKey(f"{text!r}: a connector needs its EVSE")
    attribute = match["attribute"] or "Actual"
    kinds = {k.lower(): k for k in get_args(AttributeType)}
    if attribute.lower() not in kinds:
        raise BadKey(f"{text!r}: attribute type {attribute} is not one of {', '.join(kinds.values())}")
    component = ComponentKey(match["component"], match["cinstance"],
                             int(match["evse"]) if match["evse"] is not None else None,
                             int(match["connector"]) if match["connector"] is not None else None)
    return AttributeKey(VariableKey(component, match["variable"], match["vinstance"]),
                        cast(AttributeType, kinds[attribute.lower()]))
