"""How one 2.0.1 functional block (transactions, authorization, smart charging, management, ...) plugs into
the adapter, so that each lives in a module of its own.

A feature is an object whose methods carry the `on`/`after` decorators of firmware/ocpp/v201/charge_point.py:
those answer the CSMS on every connection (two features answering one action is a programming error, raised
at connect). `online(cp)` runs once the station is registered (BootNotification Accepted) and is cancelled
when the connection ends; a feature with nothing to send returns at once.

A feature that owns messages the CSMS may ask for with TriggerMessage (F06) also has
`def triggers(self) -> Mapping[str, Trigger]` (firmware/ocpp/v201/trigger.py, the `Triggerable` protocol):
MessageTriggerEnumType value → how to send it now, whether it may be sent for the requested evse, and
whether evse is relevant to it. The TriggerMessage answer (Accepted / Rejected / NotImplemented) comes
from those entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201


class Feature(Protocol):
    async def online(self, cp: ChargePoint201) -> None: ...
