"""`chargepi ocpp connect|disconnect|test`: drop or restore the back-end connection (technicians, outage
tests), or test the connection step by step (DNS, TCP, TLS, websocket upgrade, BootNotification)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, control, settings_from
from firmware.config_paths import ConfigError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("ocpp", parents=[common], help="control or test the OCPP back-end connection",
                            description="Drop (disconnect) or restore (connect) the OCPP connection; "
                                        "transaction messages are queued while disconnected. `test` checks "
                                        "the connection step by step with a connection of its own.")
    parser.add_argument("action", choices=["connect", "disconnect", "test"],
                        help="disconnect: drop the link and keep it down; connect: restore it; test: DNS, "
                             "TCP, TLS, websocket upgrade and BootNotification, naming the failing step")
    parser.add_argument("--json", action="store_true", help="print the OCPP status (or the test) as JSON")
    parser.set_defaults(handler=run)


def connection_test_cmd(args: argparse.Namespace) -> int:
    import asyncio  # only `test` needs these (socket-only commands stay light)

    from firmware.ocpp.conntest import connection_test, render

    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if settings.ocpp is None:
        print("chargepi: the config has no [ocpp] section: nothing to test (standalone charging)",
              file=sys.stderr)
        return EXIT_CONFIG
    if not args.json:
        print(f"testing {settings.ocpp.url} as {settings.ocpp.charge_point_id} (a connection of its own: "
              "the CSMS may drop the controller's connection meanwhile; it reconnects by itself)", flush=True)
    steps = asyncio.run(connection_test(settings.ocpp, settings.station))
    print(json.dumps([s.as_dict() for s in steps], indent=2) if args.json else render(steps))
    return EXIT_OK if steps and all(s.ok for s in steps) and steps[-1].name == "boot" else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    if args.action == "test":
        return connection_test_cmd(args)
    status = control(args, "ocpp", action=args.action)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        state = "enabled" if status.get("enabled") else "disabled"
        print(f"OCPP link {state}: {status.get('state')} ({status.get('url')}), "
              f"{status.get('queue_depth')} message(s) queued")
    return 0
