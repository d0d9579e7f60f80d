"""`chargepi sessions` and `chargepi report`: the local session records (read-only)."""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, settings_from
from firmware.control.client import CommandFailed, ControllerUnreachable, call
from firmware.sessions.report import totals
from firmware.sessions.store import SessionRecord, SessionStore, db_path
from firmware.settings import ConfigError

CSV_FIELDS = ["session_id", "connector_id", "id_tag", "started_at", "stopped_at", "duration_s",
              "meter_start_wh", "meter_stop_wh", "energy_wh", "max_power_w", "avg_power_w", "stop_reason",
              "stop_id_tag", "limit_changes"]


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sessions = sub.add_parser("sessions", parents=[common], help="list the charging sessions recorded here",
                              description="List recorded sessions (times in the charger's local time).")
    _add_range(sessions)
    fmt = sessions.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout (times in UTC)")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout (times in UTC)")
    sessions.set_defaults(handler=sessions_cmd)

    report = sub.add_parser("report", parents=[common], help="energy charged per day, week or month")
    report.add_argument("--by", choices=["day", "week", "month"], default="day",
                        help="one line per day (default), week or month")
    _add_range(report)
    report.add_argument("--json", action="store_true", help="JSON on stdout")
    report.set_defaults(handler=report_cmd)


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=parse_date, metavar="DATE",
                        help="sessions started on or after DATE (2026-01-05 or 2026-01-05T08:00, local time)")
    parser.add_argument("--until", type=parse_date, metavar="DATE", help="sessions started before DATE")
    parser.add_argument("--connector", type=int, metavar="N", help="only connector N")


def parse_date(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-05 or 2026-01-05T08:00") \
            from None
    return when if when.tzinfo else when.astimezone()  # naive: the charger's local time


def _records(args: argparse.Namespace) -> list[SessionRecord] | int:
    """From the running controller (idTags hidden unless the caller is a technician), else from the file
    (only root and the service user may read it)."""
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    window = {k: v.isoformat() for k, v in (("since", args.since), ("until", args.until)) if v is not None}
    try:
        rows = call(settings.station.socket_path, "sessions", **window)
    except ControllerUnreachable:
        return _records_from_file(args, db_path(settings.station.state_dir))
    except CommandFailed as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return [r for r in map(SessionRecord.from_dict, rows) if args.connector in (None, r.connector_id)]


def _records_from_file(args: argparse.Namespace, path: Path) -> list[SessionRecord] | int:
    try:
        store = SessionStore.open_read_only(path)
    except FileNotFoundError as exc:
        # A charger that has not recorded a session yet: nothing to list, which is not an error.
        print(f"chargepi: {exc}", file=sys.stderr)
        return []
    except PermissionError as exc:
        print(f"chargepi: the controller is not running and only root can read {exc.filename}: use sudo",
              file=sys.stderr)
        return EXIT_FAILED
    try:
        records = store.sessions(args.since, args.until)
    except sqlite3.Error as exc:
        print(f"chargepi: cannot read {path}: {exc} (run with sudo?)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    return [r for r in records if args.connector in (None, r.connector_id)]


def _local(text: str | None) -> str:
    if text is None:
        return "running"
    return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")


def sessions_cmd(args: argparse.Namespace) -> int:
    records = _records(args)
    if isinstance(records, int):
        return records
    rows = [r.as_dict() for r in records]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "limit_changes": len(row["limit_changes"])})
    else:
        print(f"{'started':16}  {'stopped':16}  con  {'id tag':16}  {'kWh':>8}  {'max kW':>6}  "
              f"{'avg kW':>6}  reason")
        for row in rows:
            print(f"{_local(row['started_at']):16}  {_local(row['stopped_at']):16}  "
                  f"{row['connector_id']:>3}  "
                  f"{(row['id_tag'] or '(free)')[:16]:16}  {row['energy_wh'] / 1000:8.3f}  "
                  f"{row['max_power_w'] / 1000:6.2f}  {row['avg_power_w'] / 1000:6.2f}  "
                  f"{row['stop_reason'] or ''}")
        print(f"{len(rows)} session(s), {sum(r['energy_wh'] for r in rows) / 1000:.3f} kWh")
    return 0


def report_cmd(args: argparse.Namespace) -> int:
    records = _records(args)
    if isinstance(records, int):
        return records
    result = totals(records, args.by, now=datetime.now(UTC))
    if args.json:
        print(json.dumps([t.as_dict() for t in result], indent=2))
        return 0
    print(f"{args.by:10}  {'sessions':>8}  {'kWh':>10}  {'hours':>7}")
    for t in result:
        print(f"{t.period:10}  {t.sessions:>8}  {t.energy_wh / 1000:10.3f}  {t.duration_s / 3600:7.1f}")
    print(f"{'total':10}  {sum(t.sessions for t in result):>8}  "
          f"{sum(t.energy_wh for t in result) / 1000:10.3f}  {sum(t.duration_s for t in result) / 3600:7.1f}")
    return 0
