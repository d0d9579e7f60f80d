"""`chargepi sim ...`: drive the simulated hardware (fake HAL) of the running controller."""

from __future__ import annotations

import argparse
import json
from typing import Any

from firmware.cli.common import control_socket, fail
from firmware.config_paths import ConfigError
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from hal.fake.faults import FAULT_NAMES

SETTINGS = {"ev-max-current": "set-ev-max-current", "phases": "set-phases", "temperature": "set-temperature"}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "sim", parents=[common], help="drive the simulated hardware of the running controller",
        description="Drive the simulated EV and hardware of a controller running on the fake HAL; "
                    "prints the simulation's state afterwards.")
    parser.add_argument("--connector", type=int, default=1, metavar="N", help="connector (default 1)")
    parser.add_argument("--json", action="store_true", help="print the simulation snapshot as JSON")
    # The same options after the action; SUPPRESS keeps what was given before it.
    leaf = argparse.ArgumentParser(add_help=False)
    leaf.add_argument("--connector", type=int, default=argparse.SUPPRESS, metavar="N",
                      help="connector (default 1)")
    leaf.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="config file")
    leaf.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                      help="print the simulation snapshot as JSON")
    actions = parser.add_subparsers(dest="sim_action", metavar="ACTION")
    actions.required = True

    def action(name: str, text: str) -> argparse.ArgumentParser:
        found: argparse.ArgumentParser = actions.add_parser(name, parents=[leaf], help=text, description=text)
        return found

    action("plug", "plug a car in (state B; it asks for power once it sees an offer of at least 6 A)")
    action("unplug", "unplug the car (state A)")
    action("ev-state", "pin the car's CP state until pause/resume/unplug").add_argument(
        "value", choices=["B", "C", "D"], metavar="B|C|D", help="B connected, C charging, D with ventilation")
    action("pause", "the car stops asking for power (full or waiting): back to B")
    action("resume", "the car asks for power again")
    action("swipe", "present an RFID card at the connector's reader").add_argument(
        "value", metavar="TOKEN", help="the card's UID, e.g. 04A2B3C4")
    fault = action("fault", "inject a hardware fault (or clear it with --clear)")
    fault.add_argument("value", choices=FAULT_NAMES, metavar="NAME", help=f"one of: {', '.join(FAULT_NAMES)}")
    fault.add_argument("--clear", action="store_true", help="clear the fault instead")
    setting = action("set", "change the car or the surroundings")
    setting.add_argument("setting", choices=sorted(SETTINGS), metavar="ev-max-current|phases|temperature",
                         help="what to change")
    setting.add_argument("value", type=float, metavar="VALUE", help="amps, phase count or °C")
    action("emergency-stop", "press (on) or release (off) the emergency stop").add_argument(
        "value", choices=["on", "off"], metavar="on|off", help="on = pressed")
    action("demand-response", "switch the demand-response input on or off").add_argument(
        "value", choices=["on", "off"], metavar="on|off", help="on = the grid operator asks for the limit")
    grid = action("grid-load", "current of the site's other loads: one value for all phases, or L1 L2 L3")
    grid.add_argument("value", type=float, nargs="+", metavar="A", help="amperes (1 or 3 values)")
    for name in actions.choices:
        actions.choices[name].set_defaults(handler=run)


def request(args: argparse.Namespace) -> dict[str, Any]:
    """The control request's arguments for the parsed command line."""
    name: str = args.sim_action
    value: Any = getattr(args, "value", None)
    if name == "set":
        name = SETTINGS[args.setting]
    if name == "grid-load" and len(value) not in (1, 3):
        fail("grid-load takes one current for all phases or three (L1 L2 L3)", 2)
    return {"action": name, "connector": args.connector, "value": value,
            "clear": bool(getattr(args, "clear", False))}


def run(args: argparse.Namespace) -> int:
    sent = request(args)
    try:
        result = call(control_socket(args), "sim", **sent)
    except ConfigError as exc:
        fail(str(exc), 2)
    except ControllerUnreachable as exc:
        if _is_power_cut(sent) and str(exc).startswith("the controller closed the connection"):
            print("power cut: the controller process died without answering, as on a supply failure")
            return 0
        fail(str(exc), 3)
    except CommandFailed as exc:
        if str(exc).startswith("unknown command 'sim'"):
            fail("the running controller has no simulated hardware: `chargepi sim` needs parts with "
                 'driver = "fake" in its config', 1)
        fail(str(exc), 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_snapshot(result, args.connector))
    return 0


def _is_power_cut(sent: dict[str, Any]) -> bool:
    return sent["action"] == "fault" and sent["value"] == "power-cut" and not sent["clear"]


def format_snapshot(snapshot: dict[str, Any], connector_id: int) -> str:
    lines = []
    for conn in snapshot["connectors"]:
        if conn["connector_id"] == connector_id:
            lines.extend(_connector_lines(conn))
    inputs = []
    for key, label in (("emergency_stop", "emergency stop"), ("demand_response", "demand response")):
        if snapshot.get(key) is not None:
            inputs.append(f"{label} {'on' if snapshot[key] else 'off'}")
    if snapshot.get("site_load_a") is not None:
        inputs.append("site load " + " / ".join(f"{a:g}" for a in snapshot["site_load_a"]) + " A")
    if inputs:
        lines.append("station: " + "; ".join(inputs))
    return "\n".join(lines)


def _connector_lines(c: dict[str, Any]) -> list[str]:
    if c["plugged"]:
        car = (f"car plugged in, state {c['ev_state']}{' (pinned)' if c['ev_state_forced'] else ''}, "
               f"{'wants' if c['ev_wants_energy'] else 'does not want'} energy, "
               f"max {c['ev_max_current_a']:g} A on {c['ev_phases']} phase(s)")
    else:
        car = "no car plugged in"
    pilot = c["pilot_output"]
    if pilot == "pwm":
        pilot = f"pwm {c['pilot_duty_percent']:.1f} %"
    offer = "no offer" if c["ev_offer_a"] is None else f"{c['ev_offer_a']:.1f} A"
    contactor = "closed" if c["contactor_closed"] else "open"
    if c["contactor_commanded"] != c["contactor_closed"]:
        contactor += f" (commanded {'closed' if c['contactor_commanded'] else 'open'})"
    return [
        f"connector {c['connector_id']}: {car}",
        f"  pilot {pilot} -> CP {c['cp_state']} ({c['cp_positive_v']:+.1f} V / {c['cp_negative_v']:+.1f} V); "
        f"car reads {offer}",
        f"  contactor {contactor}; socket {'locked' if c['locked'] else 'unlocked'}; "
        f"cable {c['cable_ampacity_a']} A; {c['temperature_c']:g} °C",
        "  drawing " + " / ".join(f"{a:.1f}" for a in c["drawn_a"]) + f" A; {c['energy_wh']:.1f} Wh imported",
        "  faults: " + (", ".join(c["faults"]) or "none"),
    ]
