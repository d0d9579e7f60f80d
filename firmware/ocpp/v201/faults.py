"""The charger's faults in OCPP 2.0.1 terms. 2.0.1 has no error code: StatusNotification only says Faulted,
and what went wrong is a NotifyEvent on the device-model variable that shows the problem
(docs/reference/hardware.md §4.5, after EVerest's error_handling.hpp: trigger Alerting,
eventNotificationType HardWiredNotification, actualValue "true"/"false", techCode = the fault's ChargeX
code, techInfo = its description, cleared on the return to normal).

Each fault names the component and variable of this charger's device model (device_model/components/)
that `live.py` reads as true while the fault is active: RCD.Tripped, PowerContactor.Problem,
ConnectorPlugRetentionLock.Problem (a connector-level component), else EVSE.Problem (true while any fault
of the EVSE is active).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from firmware.core.vocabulary import FAULTS, Fault
from firmware.ocpp.common.timefmt import rfc3339

TRIGGER = "Alerting"  # EventTriggerEnumType: the monitored situation started or ended
NOTIFICATION_TYPE = "HardWiredNotification"  # EventNotificationEnumType: built in, not a monitor


@dataclass(frozen=True, slots=True)
class FaultVariable:
    component: str
    variable: str
    on_connector: bool = False  # the component is addressed with the connector id (EVSE#n/1)


EVSE_PROBLEM = FaultVariable("EVSE", "Problem")
CONTACTOR_PROBLEM = FaultVariable("PowerContactor", "Problem")

FAULT_EVENTS = MappingProxyType({
    Fault.DIODE: EVSE_PROBLEM,
    Fault.CP_SHORT: EVSE_PROBLEM,
    Fault.PILOT_OUT_OF_RANGE: EVSE_PROBLEM,
    Fault.VENTILATION: EVSE_PROBLEM,
    Fault.RCD_TRIP: FaultVariable("RCD", "Tripped"),
    Fault.RCD_SELFTEST: EVSE_PROBLEM,  # the monitor failed its test: it did not trip
    Fault.CONTACTOR_WELDED: CONTACTOR_PROBLEM,
    Fault.CONTACTOR_FEEDBACK: CONTACTOR_PROBLEM,
    Fault.LOCK: FaultVariable("ConnectorPlugRetentionLock", "Problem", on_connector=True),
    Fault.OVER_TEMPERATURE: EVSE_PROBLEM,
    Fault.OVER_CURRENT: EVSE_PROBLEM,
    Fault.PP: EVSE_PROBLEM,
    Fault.METER_OFFLINE: EVSE_PROBLEM,
    Fault.EMERGENCY_STOP: EVSE_PROBLEM,
    Fault.READER: EVSE_PROBLEM,
})


def fault_event(fault: Fault, active: bool, evse_id: int, event_id: int, when: datetime,
                still_active: Iterable[Fault] = ()) -> dict[str, Any]:
    """One EventDataType (snake_case, as `ocpp.v201.call.NotifyEvent(event_data=[...])` takes it) for a
    fault that became active or cleared on EVSE `evse_id` (one connector each). The variable stays "true"
    while another of `still_active` shows on it (EVSE.Problem sums up every fault of the EVSE); the event
    is `cleared` only when it reads false."""
    where = FAULT_EVENTS[fault]
    others = [f for f in still_active if f != fault]
    shown = active or any(where == EVSE_PROBLEM or FAULT_EVENTS[f] == where for f in others)
    evse: dict[str, int] = {"id": evse_id, "connector_id": 1} if where.on_connector else {"id": evse_id}
    info = FAULTS[fault]
    data: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": rfc3339(when),
        "trigger": TRIGGER,
        "actual_value": "true" if shown else "false",
        "event_notification_type": NOTIFICATION_TYPE,
        "component": {"name": where.component, "evse": evse},
        "variable": {"name": where.variable},
        "tech_code": info.vendor_code,
        "tech_info": f"{fault.value}: {info.description}",
    }
    if not shown:
        data["cleared"] = True
    return data
