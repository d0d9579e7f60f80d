"""Session records: cost per meter sample, writes and bytes per week (SD-card wear), query speed.

Feeds the real SessionRecorder a simulated week on SimClock: 2 connectors, 3 sessions a day each, a meter
sample per connector every second while charging (the core's default poll), limit changes every 15 min.
Then fills a year of records and times the queries behind `chargepi sessions` and `chargepi report`.

    python -m tools.bench.session_records [--days 7] [--sample-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from firmware.core.events import CoreEvent, MeterSampled, OfferChanged, SessionStarted, SessionStopped
from firmware.core.vocabulary import StopReason
from firmware.sessions.recorder import SessionRecorder
from firmware.sessions.report import totals
from firmware.sessions.store import SessionRecord, SessionStore, db_path
from hal.clock import SimClock
from hal.types import MeterReading
from tools.bench.report import figure


class Hub:
    def __init__(self) -> None:
        self.listeners: list[Callable[[CoreEvent], None]] = []

    def subscribe(self, listener: Callable[[CoreEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def publish(self, event: CoreEvent) -> None:
        for listener in self.listeners:
            listener(event)


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def week(directory: Path, days: int, sample_s: float) -> None:
    clock = SimClock(start=datetime(2026, 1, 5, tzinfo=UTC))
    hub = Hub()
    path = db_path(directory)
    recorder = SessionRecorder(hub, clock, path, retention_days=365)  # type: ignore[arg-type]
    await recorder.start()
    meter = {1: 0.0, 2: 0.0}
    samples = 0
    handling = 0.0
    for day in range(days):
        for start_h in (7, 13, 19):
            next_start = clock.now().replace(hour=start_h, minute=0, second=0)
            await clock.advance((next_start - clock.now()).total_seconds() % 86400)
            for cid in (1, 2):
                sid = f"d{day}h{start_h}c{cid}"
                hub.publish(SessionStarted(cid, sid, "04AABBCC", meter[cid], clock.now()))
            for step in range(int(2 * 3600 / sample_s)):  # 2 h sessions
                await clock.advance(sample_s)
                t0 = time.perf_counter()
                for cid in (1, 2):
                    meter[cid] += 11000 * sample_s / 3600
                    hub.publish(MeterSampled(cid, MeterReading(meter[cid], power_total_w=11000.0),
                                             clock.now(), f"d{day}h{start_h}c{cid}"))
                    if step % int(900 / sample_s) == 0:
                        hub.publish(OfferChanged(cid, 16.0 - step % 3, 26.7, "smart_charging", clock.now()))
                handling += time.perf_counter() - t0
                samples += 2
            for cid in (1, 2):
                hub.publish(SessionStopped(cid, f"d{day}h{start_h}c{cid}", StopReason.EV_DISCONNECTED,
                                           meter[cid], clock.now(), None, "04AABBCC"))
    await recorder.stop()
    sessions = days * 3 * 2
    print(f"simulated {days} day(s): {sessions} sessions, {samples} meter samples")
    figure("session records: event handling per meter sample", handling / samples * 1e6, "us",
           "checkpoints not included")
    figure("session records: rows written per 2-hour session", recorder.writes / sessions, "rows",
           f"{recorder.writes} in {days} day(s); {samples / recorder.writes:.0f} samples per write")
    figure(f"session records: database after {days} day(s)", disk_bytes(path) / 1024, "KiB")


def year_of_records(directory: Path) -> None:
    store = SessionStore.open(directory / "year.sqlite")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(365 * 6):
        began = start + timedelta(hours=4 * i)
        record = SessionRecord(f"s{i}", 1 + i % 2, "04AABBCC", began, 1000.0 * i, 1000.0 * i + 9000,
                               11000.0, began + timedelta(hours=2), "EVDisconnected")
        for k in range(8):
            record.add_limit_change(began + timedelta(minutes=15 * k), 16.0, "smart_charging")
        store.save(record)
    store.close()
    reader = SessionStore.open_read_only(directory / "year.sqlite")
    t0 = time.perf_counter()
    records = reader.sessions()
    t1 = time.perf_counter()
    months = totals(records, "month", tz=UTC)
    t2 = time.perf_counter()
    recent = reader.sessions(since=datetime(2025, 12, 1, tzinfo=UTC))
    t3 = time.perf_counter()
    reader.close()
    print(f"a year of records ({len(records)} sessions, "
          f"{(directory / 'year.sqlite').stat().st_size / 1024:.0f} KiB):")
    figure("a year of session records: read all", (t1 - t0) * 1000, "ms", f"{len(records)} sessions")
    figure("a year of session records: report by month", (t2 - t1) * 1000, "ms", f"{len(months)} rows")
    figure("a year of session records: one month (--since)", (t3 - t2) * 1000, "ms",
           f"{len(recent)} sessions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--sample-s", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(week(Path(tmp), args.days, args.sample_s))
        year_of_records(Path(tmp))


if __name__ == "__main__":
    main()
