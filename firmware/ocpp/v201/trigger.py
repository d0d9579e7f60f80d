"""TriggerMessage (F06): the CSMS asks for one message now; each functional block offers the messages it owns.

A feature (firmware/ocpp/v201/feature.py) that owns triggerable messages also has
`def triggers(self) -> Mapping[str, Trigger]` (the `Triggerable` protocol below), keyed by the
MessageTriggerEnumType value (`"MeterValues"`, `"TransactionEvent"`, ...). `RemoteTrigger` is the feature
that answers TriggerMessage from all of them, as the spec says (docs/reference/ocpp201.md §12):
- a requestedMessage no block offers → NotImplemented (F06.FR.08);
- `evse` is ignored by a message it is not relevant to (F06.FR.03); for an evse-scoped message an EVSE the
  station does not have → Rejected with reasonCode UnknownEvse, an absent evse means "every EVSE"
  (F06.FR.11); a message that exists only per connector (StatusNotification) without evse.connectorId →
  Rejected (F06.FR.12), a connector the EVSE does not have → Rejected (UnknownConnectorId);
- the trigger's own `accepts(evse)` may refuse (BootNotification once registered, F06.FR.17) → Rejected;
- the answer goes out first, the requested message after it (F06.FR.04), and an accepted one is always sent
  (F06.FR.10) with current information only (F06.FR.09).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ocpp.v201 import call_result

from firmware.ocpp.v201.charge_point import after, on

if TYPE_CHECKING:
    from firmware.ocpp.v201.charge_point import ChargePoint201

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvseRef:
    """The `evse` of a TriggerMessageRequest: an EVSE id (0 = the whole station) and maybe a connector."""

    id: int
    connector_id: int | None = None


def _always(evse: EvseRef | None) -> bool:
    return True


@dataclass(frozen=True)
class Trigger:
    """One triggerable message: how to send it now, and whether it may be sent for `evse` right now."""

    send: Callable[[ChargePoint201, EvseRef | None], Awaitable[None]]
    accepts: Callable[[EvseRef | None], bool] = _always
    evse_scoped: bool = False  # evse names an EVSE (or all of them when absent); else evse is ignored
    per_connector: bool = False  # only for one connector: evse.connectorId is required (F06.FR.12)


@runtime_checkable
class Triggerable(Protocol):
    def triggers(self) -> Mapping[str, Trigger]: ...


class RemoteTrigger:
    """Answers TriggerMessage with the triggers of `sources()` (the adapter and its features)."""

    def __init__(self, sources: Callable[[], Iterable[object]],
                 connection: Callable[[], ChargePoint201 | None],
                 evse_ids: Callable[[], Sequence[int]]) -> None:
        self._sources = sources
        self._connection = connection
        self._evse_ids = evse_ids
        self._accepted: dict[str, tuple[Trigger, EvseRef | None]] = {}  # call id → what to send after

    def offered(self) -> dict[str, Trigger]:
        found: dict[str, Trigger] = {}
        for source in self._sources():
            if isinstance(source, Triggerable):
                for message, trigger in source.triggers().items():
                    if message in found:
                        raise ValueError(f"TriggerMessage {message} is offered twice")
                    found[message] = trigger
        return found

    async def online(self, cp: ChargePoint201) -> None:
        return None

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, call_unique_id: str,
                           evse: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        trigger = self.offered().get(requested_message)
        if trigger is None:
            return call_result.TriggerMessage(status="NotImplemented")  # F06.FR.08
        where = EvseRef(evse["id"], evse.get("connector_id")) if evse is not None else None
        refusal = self._refusal(trigger, where)
        if refusal is not None:
            return call_result.TriggerMessage(status="Rejected", status_info={"reason_code": refusal})
        if not trigger.accepts(where if trigger.evse_scoped else None):
            return call_result.TriggerMessage(status="Rejected")
        if len(self._accepted) > 64:  # hooks that never ran (the connection dropped)
            self._accepted.clear()
        self._accepted[call_unique_id] = (trigger, where if trigger.evse_scoped else None)
        return call_result.TriggerMessage(status="Accepted")

    def _refusal(self, trigger: Trigger, where: EvseRef | None) -> str | None:
        """The reasonCode that rejects `where` for `trigger`, or None."""
        if trigger.per_connector and (where is None or where.connector_id is None):
            return "MissingParam"  # F06.FR.12: StatusNotification only per connector
        if not trigger.evse_scoped or where is None or (where.id == 0 and not trigger.per_connector):
            return None
        if where.id not in self._evse_ids():
            return "UnknownEvse"
        if where.connector_id is not None and where.connector_id != 1:  # one connector per EVSE
            return "UnknownConnectorId"
        return None

    @after("TriggerMessage")
    async def after_trigger_message(self, call_unique_id: str, **kwargs: Any) -> None:
        accepted = self._accepted.pop(call_unique_id, None)
        cp = self._connection()
        if accepted is None or cp is None:
            return
        trigger, where = accepted
        try:
            await trigger.send(cp, where)
        except Exception:  # the hook is a task of its own: its failure must not vanish
            log.exception("the triggered %s was not delivered", kwargs.get("requested_message"))
