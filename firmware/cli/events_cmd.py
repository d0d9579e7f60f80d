"""`chargepi events`: the audit trail (plugs, cards and decisions, sessions, limits, faults, commands).

Asks the running controller for its rolling event store (`<state_dir>/events.sqlite3`, see
firmware/audit/store.py), which masks idTags for callers without the technician role; when the controller
is not running it reads the file itself (mode 0600: only root and the service user can). `--follow`
prints new events as they come.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from firmware.audit.store import StoredEvent, db_path, read_events, window_args
from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, settings_from
from firmware.cli.sessions_cmd import parse_date
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.settings import ConfigError

_AGO = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
FOLLOW_POLL_S = 0.5


def parse_since(text: str) -> datetime:
    """`10m`, `2h`, `3d` ago, or a date/time like 2026-01-05 or 2026-01-05T08:00 (local time)."""
    match = _AGO.match(text.strip())
    if match:
        return datetime.now().astimezone() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        return parse_date(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a time ago like 10m, 2h, 3d or a date like 2026-01-05T08:00") from None


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "events", parents=[common], help="the event history: plugs, cards, sessions, limits, faults, ...",
        description="Print the recorded events, oldest first, in the charger's local time: plug and unplug, "
                    "cards presented and what was decided, sessions with their stop reason and energy, "
                    "offered-current changes with their source, faults, and commands from the CSMS and "
                    "from users.")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="events from WHEN on: 10m, 2h, 3d ago or 2026-01-05T08:00")
    parser.add_argument("--last", type=int, default=50, metavar="N",
                        help="the last N events (default 50; 0 = all since --since)")
    parser.add_argument("--connector", type=int, metavar="N", help="only events of connector N")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=events_cmd)


def render(event: StoredEvent, as_json: bool) -> str:
    if as_json:
        return json.dumps(event.as_dict(), default=str)
    when = event.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    level = "" if event.level == "INFO" else f"{event.level} "
    return f"{when}  {level}{event.message}"


def _fetch(socket_path: Path, path: Path, since: datetime | None, last: int, connector: int | None,
           limit: int | None) -> list[StoredEvent]:
    """From the running controller, else (not running) from the file."""
    try:
        rows = call(socket_path, "events", **window_args(since, last, connector, limit))
    except ControllerUnreachable:
        return read_events(path, since, last, connector, limit)
    return [StoredEvent.from_dict(row) for row in rows]


def events_cmd(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    path = db_path(settings.station.state_dir)
    last = 0
    limit = args.last or None
    try:
        while True:
            try:
                found = _fetch(settings.station.socket_path, path, args.since, last, args.connector, limit)
            except CommandFailed as exc:
                print(f"chargepi: {exc}", file=sys.stderr)
                return EXIT_FAILED
            except FileNotFoundError as exc:
                if not args.follow:
                    print(f"chargepi: {exc}", file=sys.stderr)
                    return EXIT_FAILED
                found = []
            except sqlite3.Error as exc:
                hint = "the controller is not running and only root can read it: use sudo" \
                    if "unable to open" in str(exc) else "is the file damaged?"
                print(f"chargepi: cannot read {path}: {exc} ({hint})", file=sys.stderr)
                return EXIT_FAILED
            for event in found:
                print(render(event, args.json), flush=args.follow)
                last = event.id
            if not args.follow:
                return EXIT_OK
            limit = None
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return EXIT_OK
