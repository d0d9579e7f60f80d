"""`chargepi commission`: walk a technician through a new installation and write the commissioning report.

1. the configuration (already validated when it is read) and the station's identity;
2. every configured part, as `chargepi selftest` checks it: pilot levels (loop-back), contactor with its
   mirror contact, RCD self test, lock, PP, meters found and plausible, an RFID read;
3. with an `[ocpp]` section, the connection test of `chargepi ocpp test` (DNS, TCP, TLS, upgrade, boot);
4. a report in text and JSON (`<state_dir>/commissioning/` or `--report-dir`) to attach to the
   installation record.

Like the self test it needs the hardware to itself: stop the controller first. Exit 0 when every check
passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, chosen_config, settings_from
from firmware.cli.selftest_cmd import BuildHardware, confirm_relay, controller_busy, run_checks
from firmware.ocpp.conntest import Step, connection_test
from firmware.ocpp.conntest import render as render_steps
from firmware.settings import ConfigError, Settings
from hal.selftest import Check, SelfTestOptions


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("commission", parents=[common],
                            help="check a new installation end to end and write the commissioning report",
                            description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--yes", action="store_true", help="do not ask before clicking the contactor")
    parser.add_argument("--no-relay", action="store_true", help="skip the contactor click")
    parser.add_argument("--rfid-timeout", type=float, default=15.0, metavar="S",
                        help="seconds to wait for a card on the reader (0 = skip; default 15)")
    parser.add_argument("--skip-ocpp", action="store_true", help="do not test the back-end connection")
    parser.add_argument("--report-dir", metavar="DIR", help="where to write the report "
                        "(default: <state_dir>/commissioning)")
    parser.set_defaults(handler=commission)


def _report(settings: Settings, config: Path | None, checks: list[Check], steps: list[Step] | None,
            when: datetime) -> dict[str, Any]:
    station = settings.station
    passed = all(c.passed for c in checks) and all(s.ok for s in steps or [])
    return {
        "report": "chargepi commissioning", "schema_version": 1, "result": "PASS" if passed else "FAIL",
        "time": when.isoformat(timespec="seconds"),
        "station": {"vendor": station.vendor, "model": station.model, "serial_number": station.serial_number,
                    "firmware_version": station.firmware_version, "software": f"chargepi {__version__}",
                    "host": platform.node(), "connectors": len(settings.connectors)},
        "config": str(config) if config else "defaults (no config file)",
        "ocpp": None if settings.ocpp is None else {"url": settings.ocpp.url,
                                                     "charge_point_id": settings.ocpp.charge_point_id,
                                                     "security_profile": settings.ocpp.security_profile},
        "hardware": [asdict(c) for c in checks],
        "connection": None if steps is None else [s.as_dict() for s in steps],
    }


def render_report(report: dict[str, Any]) -> str:
    station = report["station"]
    lines = [f"chargepi commissioning report: {report['result']}",
             f"time:      {report['time']}",
             f"station:   {station['vendor']} {station['model']}, serial {station['serial_number']}, "
             f"firmware {station['firmware_version']} ({station['software']}), host {station['host']}",
             f"config:    {report['config']}", "", "hardware:"]
    lines += [f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']:<28} {c['detail']}"
              for c in report["hardware"]]
    lines.append("")
    ocpp = report["ocpp"]
    if report["connection"] is None:
        lines.append("OCPP connection: not tested" + ("" if ocpp else " (no [ocpp] section: standalone)"))
    else:
        lines.append(f"OCPP connection to {ocpp['url']} as {ocpp['charge_point_id']}:")
        steps = render_steps([Step(**s) for s in report["connection"]])
        lines += ["  " + line for line in steps.splitlines()]
    return "\n".join(lines) + "\n"


async def commission_run(settings: Settings, config: Path | None, options: SelfTestOptions, test_ocpp: bool,
                         build: BuildHardware | None = None) -> dict[str, Any]:
    """Steps 2 and 3, printing as they go; the report."""
    print("2. hardware:")
    if options.rfid_timeout_s > 0:
        print(f"   present a card to the reader during the RFID check (up to {options.rfid_timeout_s:g} s)")
    checks = await run_checks(settings, options, build)
    steps: list[Step] | None = None
    if settings.ocpp is not None and test_ocpp:
        print(f"3. OCPP connection to {settings.ocpp.url} as {settings.ocpp.charge_point_id}:")
        steps = await connection_test(settings.ocpp, settings.station)
        print(render_steps(steps))
    else:
        print("3. OCPP connection: " + ("skipped" if settings.ocpp else "none configured (standalone)"))
    return _report(settings, config, checks, steps, datetime.now(UTC))


def write_report(report: dict[str, Any], folder: Path) -> Path:
    """Step 4: the report as text and JSON; the path of both without the suffix."""
    when = datetime.fromisoformat(report["time"]).strftime("%Y%m%dT%H%M%SZ")
    stem = folder / f"commissioning-{report['station']['serial_number']}-{when}"
    folder.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".txt").write_text(render_report(report))
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return stem


def commission(args: argparse.Namespace) -> int:
    try:
        config = chosen_config(args)
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"1. configuration {config or '(defaults)'}: valid, {len(settings.connectors)} connector(s), "
          f"serial number {settings.station.serial_number}")
    busy = controller_busy(settings)
    if busy is not None:
        print(f"chargepi: {busy}", file=sys.stderr)
        return EXIT_FAILED
    options = SelfTestOptions(relay=confirm_relay(args), rfid_timeout_s=args.rfid_timeout)
    folder = Path(args.report_dir) if args.report_dir else settings.station.state_dir / "commissioning"
    report = asyncio.run(commission_run(settings, config, options, not args.skip_ocpp))
    try:
        stem = write_report(report, folder)
    except OSError as exc:
        print(f"chargepi: cannot write the report to {folder}: {exc.strerror} (use --report-dir)",
              file=sys.stderr)
        return EXIT_FAILED
    failed = [c["name"] for c in report["hardware"] if not c["passed"]] + \
        [s["name"] for s in report["connection"] or [] if not s["ok"]]
    print(f"4. report: {stem}.txt and {stem}.json")
    print(f"RESULT: {report['result']}" + (f" (failed: {', '.join(failed)})" if failed else ""))
    return EXIT_OK if not failed else EXIT_FAILED
