"""The "sim" control command: drives the simulated hardware of a controller running on the fake HAL.

Request args: action (see SIM_ACTIONS), connector (default 1), value (per action), clear (faults).
Reply: the simulation snapshot after the action (SimulatedStation.snapshot()).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware.control.roles import Role
from firmware.control.server import ControlError, ControlServer
from hal.fake import SimulatedConnector, SimulatedStation
from hal.fake.parts import SimulatedInput

ConnectorAction = Callable[[SimulatedConnector, Any, bool], None]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ControlError(f"value must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ControlError(f"value must be a number, got {value!r}") from None


def _integer(value: Any) -> int:
    number = _number(value)
    if not number.is_integer():
        raise ControlError(f"value must be a whole number, got {value!r}")
    return int(number)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ControlError(f"value must be a non-empty string, got {value!r}")
    return value


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("on", "off"):
        return bool(value == "on")
    raise ControlError(f"value must be on or off, got {value!r}")


def _fault(conn: SimulatedConnector, value: Any, clear: bool) -> None:
    (conn.clear if clear else conn.inject)(_text(value))


CONNECTOR_ACTIONS: dict[str, ConnectorAction] = {
    "plug": lambda c, v, clear: c.plug(),
    "unplug": lambda c, v, clear: c.unplug(),
    "ev-state": lambda c, v, clear: c.set_ev_state(_text(v)),
    "pause": lambda c, v, clear: c.pause(),
    "resume": lambda c, v, clear: c.resume(),
    "swipe": lambda c, v, clear: c.swipe(_text(v)),
    "fault": _fault,
    "set-ev-max-current": lambda c, v, clear: c.set_ev_max_current(_number(v)),
    "set-phases": lambda c, v, clear: c.set_phases(_integer(v)),
    "set-temperature": lambda c, v, clear: c.set_temperature(_number(v)),
}
STATION_ACTIONS = ("emergency-stop", "demand-response", "grid-load")
SIM_ACTIONS = (*CONNECTOR_ACTIONS, *STATION_ACTIONS)


def _station_input(sim: SimulatedStation, name: str) -> SimulatedInput:
    found = sim.emergency_stop if name == "emergency-stop" else sim.demand_response
    if found is None:
        key = name.replace("-", "_")
        raise ControlError(f"the simulation has no {name} input; "
                           f"configure [station.hal.{key}] driver = \"fake\"")
    return found


def _grid_load(sim: SimulatedStation, value: Any) -> None:
    if sim.grid_meter is None:
        raise ControlError("the simulation has no grid meter; "
                           'configure [station.hal.grid_meter] driver = "fake"')
    values = value if isinstance(value, list) else [value]
    sim.grid_meter.set_site_load([_number(v) for v in values])


def apply_sim_action(sim: SimulatedStation, args: dict[str, Any]) -> dict[str, Any]:
    """Do what `args` asks of the simulation and return its snapshot; ControlError on bad input."""
    action = args.get("action")
    value = args.get("value")
    try:
        if action in CONNECTOR_ACTIONS:
            connector_id = _integer(args.get("connector", 1))
            CONNECTOR_ACTIONS[action](sim.connector(connector_id), value, bool(args.get("clear", False)))
        elif action in ("emergency-stop", "demand-response"):
            _station_input(sim, action).set(_switch(value))
        elif action == "grid-load":
            _grid_load(sim, value)
        else:
            raise ControlError(f"unknown sim action {action!r}; known: {', '.join(SIM_ACTIONS)}")
    except (ValueError, KeyError) as exc:
        raise ControlError(str(exc.args[0]) if exc.args else str(exc)) from None
    return sim.snapshot()


def register_sim_commands(server: ControlServer, sim: SimulatedStation) -> None:
    async def handle(args: dict[str, Any]) -> dict[str, Any]:
        return apply_sim_action(sim, args)

    server.register("sim", handle, Role.SIMULATOR)
