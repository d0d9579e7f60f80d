"""`chargepi sessions verify`: checks the signed (OCMF) meter records of a session against the meter's
public key, from the session records file (read-only), or a record given in a file (e.g. what the CSMS
received). Exit 0 = every record verifies, 1 = one does not, 2 = nothing to check."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from firmware.cli.common import settings_from
from firmware.sessions.store import SessionStore, db_path
from firmware.settings import ConfigError
from hal.ocmf import OcmfError, SignedRecord, verify


def _print_readings(record: SignedRecord) -> None:
    for reading in record.readings:
        print(f"    {reading.get('TX', '?')}  {reading.get('TM', '?')}  {reading.get('RV', '?')} "
              f"{reading.get('RU', '')}")


def _check(label: str, record: SignedRecord, public_key: str) -> bool:
    try:
        parsed = verify(record.data, public_key)
    except OcmfError as exc:
        print(f"{label}: NOT VERIFIED: {exc}")
        return False
    meter = " ".join(str(parsed.payload.get(k, "")) for k in ("MV", "MM", "MS")).strip()
    print(f"{label}: verified ({parsed.algorithm}{', meter ' + meter if meter else ''})")
    if parsed.payload.get("TT"):
        print(f"    tariff: {parsed.payload['TT']}")
    _print_readings(record)
    return True


def verify_cmd(args: argparse.Namespace, targets: list[str]) -> int:
    if args.record is not None:
        if not args.public_key:
            print("chargepi: --record needs --public-key (hex DER, as in MeterPublicKey1)", file=sys.stderr)
            return 2
        text = Path(args.record).read_text().strip()
        return 0 if _check(args.record, SignedRecord(text, args.public_key), args.public_key) else 1
    if len(targets) != 1:
        print("chargepi: usage: chargepi sessions verify SESSION_ID (or --record FILE --public-key HEX)",
              file=sys.stderr)
        return 2
    try:
        path = db_path(settings_from(args).station.state_dir)
        store = SessionStore.open_read_only(path)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"chargepi: {exc}", file=sys.stderr)
        return 2
    try:
        records = store.signed(targets[0])
    except sqlite3.Error as exc:
        print(f"chargepi: cannot read {path}: {exc} (run with sudo?)", file=sys.stderr)
        return 2
    finally:
        store.close()
    if not records:
        print(f"chargepi: session {targets[0]} has no signed meter records", file=sys.stderr)
        return 2
    results = [_check(f"{context} ({taken:%Y-%m-%d %H:%M:%S}Z)", record, args.public_key or record.public_key)
               for context, taken, record in records]
    return 0 if all(results) else 1
