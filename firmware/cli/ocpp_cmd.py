"""`chargepi ocpp connect|disconnect`: drop or restore the back-end connection (technicians, outage tests)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from firmware.cli.common import control


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("ocpp", parents=[common], help="control the OCPP back-end connection",
                            description="Drop (disconnect) or restore (connect) the OCPP connection. "
                                        "Transaction messages are queued while disconnected.")
    parser.add_argument("action", choices=["connect", "disconnect"],
                        help="disconnect: drop the link and keep it down; connect: restore it")
    parser.add_argument("--json", action="store_true", help="print the OCPP status as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    status = control(args, "ocpp", action=args.action)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        state = "enabled" if status.get("enabled") else "disabled"
        print(f"OCPP link {state}: {status.get('state')} ({status.get('url')}), "
              f"{status.get('queue_depth')} message(s) queued")
    return 0
