"""`chargepi status [--json]`: the live state of the running controller, and `chargepi fault clear`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from firmware.cli.common import control, control_socket, fail
from firmware.cli.watch import watch
from firmware.config_paths import ConfigError
from firmware.control.client import call


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("status", parents=[common], help="show the live state of the controller")
    parser.add_argument("--json", action="store_true", help="print the versioned JSON document")
    parser.add_argument("--watch", action="store_true", help="redraw every second until Ctrl-C")
    parser.set_defaults(handler=status)
    fault = sub.add_parser("fault", parents=[common], help="clear a latched fault after repair")
    fault.add_argument("action", choices=["clear"], help="clear: forget a latched fault after repair")
    fault.add_argument("name", help="fault name as shown by `chargepi status`, e.g. welded")
    fault.add_argument("--connector", type=int, default=1, metavar="N", help="connector (default 1)")
    fault.set_defaults(handler=fault_clear)


def status(args: argparse.Namespace) -> int:
    if args.watch:
        try:
            socket = control_socket(args)
        except ConfigError as exc:
            fail(str(exc), 2)
        return watch(lambda: call(socket, "status"),
                     (lambda d: json.dumps(d, indent=2)) if args.json else render)
    doc = control(args, "status")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(render(doc))
    return 0


def fault_clear(args: argparse.Namespace) -> int:
    result = control(args, "fault-clear", fault=args.name, connector=args.connector)
    print("cleared" if result["cleared"] else f"fault {args.name} was not active")
    return 0


def _fmt_list(values: list[float], unit: str) -> str:
    return " / ".join(f"{v:.1f}" for v in values) + f" {unit}" if values else "-"


def render(doc: dict[str, Any]) -> str:
    """The human view of the status document."""
    station = doc["station"]
    lines = [f"chargepi {doc['firmware_version']}  {station['vendor']} {station['model']} "
             f"#{station['serial_number']}  {doc['time']}"]
    ocpp = doc.get("ocpp")
    if ocpp:
        state = "connected" if ocpp.get("connected") else "DISCONNECTED"
        lines.append(f"OCPP: {state} {ocpp.get('url', '')}  queue {ocpp.get('queue_depth', 0)}"
                     + (f"  last error: {ocpp['last_error']}" if ocpp.get("last_error") else ""))
    elif "ocpp" not in doc:
        lines.append("OCPP: not configured (standalone, free charging)")
    if station.get("emergency_stop"):
        lines.append("EMERGENCY STOP ACTIVE")
    for c in doc["connectors"]:
        duty = f"{c['pwm_duty_percent']:.2f} %" if c["pwm_duty_percent"] is not None else c["pilot_mode"]
        contactor = "closed" if c["contactor"]["closed"] else "open"
        if c["contactor"]["feedback_closed"] is not None:
            contactor += f" (feedback {'closed' if c['contactor']['feedback_closed'] else 'open'})"
        lines += [
            "",
            f"Connector {c['id']}: {c['status']}" + (f"  [{c['error_code']}]" if c["error_code"] != "NoError"
                                                     else ""),
            f"  CP state {c['cp_state']} ({c.get('cp_positive_v', 0):+.1f} V / "
            f"{c.get('cp_negative_v', 0):+.1f} V)  pilot {duty}",
            f"  offered {c['offered_a']:.1f} A  (limit {c['limit_a']:.1f} A set by {c['limit_reason']}; "
            + ", ".join(f"{k} {v:g}" for k, v in c["limits"].items()) + ")",
            f"  contactor {contactor}  lock {c['lock']}",
        ]
        meter = c["meter"]
        if "energy_wh" in meter:
            lines.append(f"  meter {meter['energy_wh'] / 1000:.3f} kWh  "
                         f"{meter['power_total_w'] / 1000:.2f} kW"
                         f"  I {_fmt_list(meter['current_a'], 'A')}  U {_fmt_list(meter['voltage_v'], 'V')}"
                         + ("" if meter["ok"] else "  (METER OFFLINE: last good reading)"))
        if c["faults"]:
            lines.append(f"  faults: {', '.join(c['faults'])}")
        session = c["session"]
        if session:
            lines.append(f"  session {session['id'][:8]} tag {session['id_tag'] or '(free)'} since "
                         f"{session['started_at']}  {session['energy_wh'] / 1000:.3f} kWh")
        tx = c.get("transaction")
        if tx:
            lines.append(f"  OCPP transaction {tx.get('id')}")
    return "\n".join(lines)
