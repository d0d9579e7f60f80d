"""The security event log: persistence, criticality, rolling size, window queries and export."""

from __future__ import annotations

import gzip
import stat
from datetime import timedelta
from pathlib import Path

from firmware.security.events import SecurityEvent, SecurityEventType, SecurityLog
from hal.clock import SimClock


def test_events_persist_with_their_criticality(tmp_path: Path) -> None:
    clock = SimClock()
    path = tmp_path / "security.sqlite3"
    seen: list[SecurityEvent] = []
    log = SecurityLog(path, clock)
    log.subscribe(seen.append)
    log.record(SecurityEventType.STARTUP_OF_THE_DEVICE)
    log.record(SecurityEventType.INVALID_MESSAGES, "frame\nwith newline " + "x" * 400)
    log.record("VendorSpecificEvent", critical=True)
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SecurityLog(path, clock)
    events = again.since(0)
    assert [(e.type, e.critical, e.notify) for e in events] == [
        ("StartupOfTheDevice", True, True), ("InvalidMessages", False, False),
        ("VendorSpecificEvent", True, True)]
    assert events == seen
    tech = events[1].tech_info
    assert tech is not None and len(tech) == 255 and "\n" not in tech
    assert [e.type for e in again.since(events[0].seq, reported_only=True)] == ["VendorSpecificEvent"]


def test_rolling_log_keeps_the_newest(tmp_path: Path) -> None:
    log = SecurityLog(tmp_path / "s.sqlite3", SimClock(), max_entries=150)
    for n in range(400):
        log.record(SecurityEventType.INVALID_MESSAGES, str(n))
    kept = log.since(0)
    assert 150 <= len(kept) <= 250
    assert kept[-1].tech_info == "399"


async def test_window_and_export(tmp_path: Path) -> None:
    clock = SimClock()
    log = SecurityLog(tmp_path / "s.sqlite3", clock)
    log.record(SecurityEventType.RESET_OR_REBOOT, "old")
    await clock.advance(3600)
    start = clock.now()
    log.record(SecurityEventType.SETTING_SYSTEM_TIME, "new")
    assert [e.tech_info for e in log.entries(start=start)] == ["new"]
    assert [e.tech_info for e in log.entries(stop=start - timedelta(seconds=1))] == ["old"]
    out = log.export(tmp_path / "log.gz", start=start)
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert len(lines) == 1 and "SettingSystemTime critical new" in lines[0]
