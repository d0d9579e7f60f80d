"""OCPP 2.0.1 B05-B08 on the wire: GetVariables, SetVariables, GetBaseReport and GetReport over the device
model, in the `ocpp` library's snake_case payload shape (docs/reference/ocpp201.md §2.3).

The answers echo each request element's component and variable (B05.FR.02, B06.FR.02); a request with more
elements than ItemsPerMessage[...] is refused with CALLERROR OccurrenceConstraintViolation (B06.FR.16,
B08.FR.17); the byte limits are checked on the raw frame by the charge point (`charge_point.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ocpp.exceptions import OccurrenceConstraintViolationError

from firmware.ocpp.v201.device_model.definitions import AttributeType
from firmware.ocpp.v201.device_model.keys import ComponentKey
from firmware.ocpp.v201.device_model.model import DeviceModel
from firmware.ocpp.v201.device_model.reports import (
    Criterion,
    ReportBase,
    base_report,
    custom_report,
    notify_parts,
)

# Requests whose size the device model limits: action → the DeviceDataCtrlr instance.
LIMITED_ACTIONS = {"GetVariables": "GetVariables", "SetVariables": "SetVariables", "GetReport": "GetReport"}
# The variable that bounds each size-limited request (bytes of the whole frame).
BYTE_LIMITS = {**{action: f"DeviceDataCtrlr.BytesPerMessage[{instance}]"
                  for action, instance in LIMITED_ACTIONS.items()},
               "SendLocalList": "LocalAuthListCtrlr.BytesPerMessage"}


def component_key(component: dict[str, Any]) -> ComponentKey:
    evse = component.get("evse") or {}
    return ComponentKey(component["name"], component.get("instance") or None, evse.get("id"),
                        evse.get("connector_id"))


@dataclass
class Report:
    """An accepted report request: the answer's status and the NotifyReport payloads to send after it."""

    status: str
    parts: list[dict[str, Any]]


class Provisioning:
    def __init__(self, model: DeviceModel, now: Callable[[], str]) -> None:
        self.model = model
        self._now = now

    def byte_limit(self, action: str) -> int | None:
        variable = BYTE_LIMITS.get(action)
        return self.model.integer(variable) if variable is not None else None

    def _check_items(self, instance: str, count: int) -> None:
        limit = self.model.integer(f"DeviceDataCtrlr.ItemsPerMessage[{instance}]")
        if count > limit:
            raise OccurrenceConstraintViolationError(
                description=f"{count} elements, ItemsPerMessage[{instance}] is {limit}")

    def get_variables(self, get_variable_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._check_items("GetVariables", len(get_variable_data))
        results = []
        for item in get_variable_data:
            attribute = cast(AttributeType, item.get("attribute_type") or "Actual")
            variable = item["variable"]
            got = self.model.get(component_key(item["component"]), variable["name"],
                                 variable.get("instance") or None, attribute)
            result: dict[str, Any] = {"attribute_status": got.status, "attribute_type": attribute,
                                      "component": item["component"], "variable": variable}
            if got.status == "Accepted":
                limit = self.model.integer("DeviceDataCtrlr.ReportingValueSize")
                result["attribute_value"] = (got.value or "")[:limit]
            results.append(result)
        return results

    def set_variables(self, set_variable_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._check_items("SetVariables", len(set_variable_data))
        results = []
        size = self.model.integer("DeviceDataCtrlr.ConfigurationValueSize")
        for item in set_variable_data:
            attribute = cast(AttributeType, item.get("attribute_type") or "Actual")
            variable = item["variable"]
            value = str(item["attribute_value"])
            result: dict[str, Any] = {"attribute_type": attribute, "component": item["component"],
                                      "variable": variable}
            if len(value) > size:
                result["attribute_status"] = "Rejected"
                result["attribute_status_info"] = {"reason_code": "ValueTooLong"}
            else:
                done = self.model.set(component_key(item["component"]), variable["name"],
                                      variable.get("instance") or None, value, attribute)
                result["attribute_status"] = done.status
                if done.reason:
                    code = "ReadOnly" if done.reason == "ReadOnly" else "InvalidValue"
                    result["attribute_status_info"] = {"reason_code": code,
                                                       "additional_info": done.reason[:500]}
            results.append(result)
        return results

    def get_base_report(self, request_id: int, report_base: str) -> Report:
        chosen = base_report(self.model, cast(ReportBase, report_base))
        return Report("Accepted", notify_parts(self.model, chosen, request_id, self._now()))

    def get_report(self, request_id: int, component_criteria: list[str] | None,
                   component_variable: list[dict[str, Any]] | None) -> Report:
        self._check_items("GetReport", len(component_variable or []))
        chosen = custom_report(self.model, cast(list[Criterion], component_criteria), component_variable)
        if not chosen:
            return Report("EmptyResultSet", [])  # B08.FR.15: no NotifyReport
        return Report("Accepted", notify_parts(self.model, chosen, request_id, self._now()))

