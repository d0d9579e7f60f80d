"""Events as log lines: `emit()` writes one INFO record on the `firmware.events` logger with structured
fields (`event=session-stopped connector=1 reason=EVDisconnected energy_wh=7345.2`), and `CoreEventLog`
turns the core's events into such lines.

Every line answers a technician's question ("why didn't it charge?"): plug and unplug, a card and what
was decided about it and why, sessions with their stop reason and energy, each change of the offered
current with the limit source that caused it, faults set and cleared, and who sent which command (the
CSMS, or a user on the control socket). The journal gets the lines like any other; `EventStore` keeps
them for `chargepi events` too.
"""

from __future__ import annotations

import logging
from typing import Any

from firmware.core.events import (
    ContactorChanged,
    CoreEvent,
    FaultChanged,
    OfferChanged,
    PilotChanged,
    SessionStarted,
    SessionStopped,
    StatusChanged,
    TokenDecided,
    TokenPresented,
)
from firmware.core.published import error_label, status_label
from firmware.core.vocabulary import FAULTS
from hal.types import CPState

EVENTS_LOGGER = "firmware.events"
log = logging.getLogger(EVENTS_LOGGER)

_UNPLUGGED = {CPState.A}
_PLUGGED = {CPState.B, CPState.C, CPState.D}


def emit(event: str, message: str, **fields: Any) -> None:
    """One audit line: `event` is a stable kebab-case name, `message` the sentence for people."""
    log.info(message, extra={"event": event, **{k: v for k, v in fields.items() if v is not None}})


class CoreEventLog:
    """Subscribes to the station and writes an audit line for each meaningful core event."""

    def __init__(self) -> None:
        self._plugged: dict[int, bool] = {}
        self._meter_start: dict[str, float] = {}

    def __call__(self, event: CoreEvent) -> None:
        match event:
            case PilotChanged(connector_id=c, cp_state=cp):
                plugged = cp in _PLUGGED
                if (cp in _PLUGGED or cp in _UNPLUGGED) and self._plugged.get(c, False) != plugged:
                    self._plugged[c] = plugged
                    emit("plug" if plugged else "unplug",
                         f"connector {c}: car {'plugged in' if plugged else 'unplugged'}",
                         connector=c, cp_state=cp.value)
            case TokenPresented(connector_id=c, id_tag=tag):
                emit("card-presented", f"card {tag} presented" + (f" at connector {c}" if c else ""),
                     connector=c, id_tag=tag)
            case TokenDecided(connector_id=c, id_tag=tag, accepted=ok, outcome=outcome):
                emit("card-accepted" if ok else "card-refused",
                     f"card {tag} {'accepted' if ok else 'refused'}: {outcome}",
                     connector=c, id_tag=tag, outcome=outcome)
            case SessionStarted(connector_id=c, session_id=sid, id_tag=tag, meter_start_wh=begin):
                self._meter_start[sid] = begin
                emit("session-started", f"connector {c}: session started"
                     + (f" for card {tag}" if tag else " (free charging)"),
                     connector=c, session_id=sid, id_tag=tag, meter_start_wh=begin)
            case SessionStopped(connector_id=c, session_id=sid, reason=reason, meter_stop_wh=stop,
                                id_tag=tag):
                start = self._meter_start.pop(sid, None)
                energy = round(stop - start, 1) if start is not None else None
                emit("session-stopped", f"connector {c}: session stopped ({reason.value})"
                     + (f", {energy / 1000:.3f} kWh" if energy is not None else ""),
                     connector=c, session_id=sid, reason=reason.value, energy_wh=energy,
                     meter_stop_wh=stop, stopped_by=tag)
            case OfferChanged(connector_id=c, offered_a=amps, duty_percent=duty, reason=reason):
                emit("offer-changed", f"connector {c}: offering {amps:g} A (set by {reason})",
                     connector=c, offered_a=amps, duty_percent=duty, source=reason)
            case FaultChanged(connector_id=c, fault=fault, active=active):
                info = FAULTS[fault]
                latched = info.latched and active
                emit("fault-set" if active else "fault-cleared",
                     f"connector {c}: fault {fault.value} {'set' if active else 'cleared'}"
                     + (f" (latched: `chargepi fault clear {fault.value}` after repair)" if latched else ""),
                     connector=c, fault=fault.value, error_code=error_label(fault), latched=latched)
            case StatusChanged(connector_id=c, state=state, fault=leading, info=info):
                emit("status", f"connector {c}: {status_label(state)}", connector=c,
                     status=status_label(state), error_code=error_label(leading), info=info)
            case ContactorChanged(connector_id=c, closed=closed):
                emit("contactor", f"connector {c}: contactor {'closed' if closed else 'opened'}",
                     connector=c, closed=closed)
            case _:
                pass  # meter samples: the session records keep those
