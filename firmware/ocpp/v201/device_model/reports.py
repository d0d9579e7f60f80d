"""GetBaseReport / GetReport: which variables a report holds, and the NotifyReport parts that carry them
(OCPP 2.0.1 B07, B08; docs/reference/ocpp201.md §2.3).

- FullInventory: every variable with all its attribute types (B07.FR.08/11); ConfigurationInventory: the
  variables the operator can set (B07.FR.07); SummaryInventory: the availability states and the components
  in an abnormal state (B07.FR.09).
- GetReport: componentCriteria (Active, Available, Enabled, Problem; OR-ed, B08.FR.07-10/13) and
  componentVariable filters (an absent evse / instance / variable matches every one, B08.FR.20-25), both
  together = both apply (B08.FR.05).
- A WriteOnly attribute is reported without `value` (the schema allows omitting it only then; TC_B_53).
- Parts: at most ItemsPerMessage[GetReport] entries and BytesPerMessage[GetReport] bytes each, seqNo from 0,
  `tbc` true on every part but the last (B07.FR.10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from firmware.ocpp.v201.device_model.keys import AttributeKey, ComponentKey
from firmware.ocpp.v201.device_model.model import DeviceModel, Variable

ReportBase = Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"]
Criterion = Literal["Active", "Available", "Enabled", "Problem"]
# Room for the OCPP-J frame around the payload: [2,"<unique id>","NotifyReport",{...}].
FRAME_OVERHEAD = 64
ABNORMAL = ("Problem", "Tripped", "Overload", "Fallback")


def base_report(model: DeviceModel, base: ReportBase) -> list[Variable]:
    if base == "FullInventory":
        return model.variables
    if base == "ConfigurationInventory":
        return [v for v in model.variables if any(a.mutability != "ReadOnly" for a in v.attributes)]
    out = []
    for variable in model.variables:
        name = variable.key.name
        if name == "AvailabilityState" or (name in ABNORMAL and _true(model, variable)):
            out.append(variable)
    return out


def _true(model: DeviceModel, variable: Variable) -> bool:
    return model.read(AttributeKey(variable.key)) == "true"


def _component_flag(model: DeviceModel, component: ComponentKey, name: str) -> bool | None:
    """The component's boolean `name` variable, None when it has none."""
    found = model.find(component, name, None)
    if isinstance(found, str):
        return None
    return _true(model, found)


def _meets(model: DeviceModel, component: ComponentKey, criterion: Criterion) -> bool:
    flag = _component_flag(model, component, criterion)
    if criterion == "Problem":
        return flag is True  # B08.FR.10
    return flag is not False  # B08.FR.07-09: true, or the component has no such variable


def _matches(variable: Variable, wanted: dict[str, Any]) -> bool:
    """A GetReport componentVariable entry (snake_case, as the `ocpp` library hands it over)."""
    component = wanted.get("component", {})
    key = variable.key.component
    if component.get("name") != key.name:
        return False
    if component.get("instance") and component["instance"] != key.instance:
        return False
    evse = component.get("evse")
    if evse is not None:
        if evse.get("id") != key.evse:
            return False
        if evse.get("connector_id") is not None and evse["connector_id"] != key.connector:
            return False
    target = wanted.get("variable")
    if target is None:
        return True
    if target.get("name") != variable.key.name:
        return False
    return not target.get("instance") or target["instance"] == variable.key.instance


def custom_report(model: DeviceModel, criteria: Iterable[Criterion] | None,
                  component_variables: list[dict[str, Any]] | None) -> list[Variable]:
    chosen = model.variables
    if component_variables:
        chosen = [v for v in chosen if any(_matches(v, wanted) for wanted in component_variables)]
    wanted_criteria = list(criteria or [])
    if wanted_criteria:
        chosen = [v for v in chosen
                  if any(_meets(model, v.key.component, c) for c in wanted_criteria)]
    return chosen


def report_data(model: DeviceModel, variable: Variable) -> dict[str, Any]:
    """ReportDataType of one variable (snake_case keys)."""
    attributes = []
    limit = model.integer("DeviceDataCtrlr.ReportingValueSize")
    for definition in variable.attributes:
        live = variable.definition.live
        entry: dict[str, Any] = {"type": definition.type, "mutability": definition.mutability,
                                 "persistent": not live,
                                 "constant": definition.mutability == "ReadOnly" and not live}
        if definition.mutability != "WriteOnly":
            value = model.read(AttributeKey(variable.key, definition.type))
            entry["value"] = ("" if value is None else value)[:limit]
        attributes.append(entry)
    return {"component": variable.key.component.wire(), "variable": variable.key.wire(),
            "variable_attribute": attributes, "variable_characteristics": variable.characteristics.wire()}


def notify_parts(model: DeviceModel, variables: list[Variable], request_id: int,
                 generated_at: str) -> list[dict[str, Any]]:
    """NotifyReport payloads (snake_case) for `variables`: bounded in entries and bytes, seqNo from 0."""
    items = model.integer("DeviceDataCtrlr.ItemsPerMessage[GetReport]")
    budget = model.integer("DeviceDataCtrlr.BytesPerMessage[GetReport]") - FRAME_OVERHEAD
    envelope = len(json.dumps({"request_id": request_id, "generated_at": generated_at, "seq_no": 999999,
                               "tbc": False, "report_data": []}))
    parts: list[list[dict[str, Any]]] = [[]]
    size = envelope
    for variable in variables:
        entry = report_data(model, variable)
        cost = len(json.dumps(entry)) + 2  # ", " between entries
        if parts[-1] and (len(parts[-1]) >= items or size + cost > budget):
            parts.append([])
            size = envelope
        parts[-1].append(entry)
        size += cost
    return [{"request_id": request_id, "generated_at": generated_at, "seq_no": n, "tbc": n < len(parts) - 1,
             "report_data": data} for n, data in enumerate(parts)]
