"""Session records from the core's events: a simulated week, few writes, pruning, the CLI views."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware.cli.main import main
from firmware.core.events import CoreEvent, MeterSampled, OfferChanged, SessionStarted, SessionStopped
from firmware.core.vocabulary import StopReason
from firmware.sessions.recorder import SessionRecorder
from firmware.sessions.report import totals
from firmware.sessions.store import SessionStore, db_path
from hal.clock import SimClock
from hal.types import MeterReading

MONDAY = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


class EventHub:
    """The station's subscribe() as the recorder uses it."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[CoreEvent], None]] = []

    def subscribe(self, listener: Callable[[CoreEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def publish(self, event: CoreEvent) -> None:
        for listener in list(self.listeners):
            listener(event)


async def charge(hub: EventHub, clock: SimClock, sid: str, connector: int, tag: str, meter_wh: float,
                 minutes: int, power_w: float, reason: StopReason = StopReason.EV_DISCONNECTED) -> float:
    """One session: 11 kW (or `power_w`) for `minutes`, a sample a minute, a limit change halfway."""
    hub.publish(OfferChanged(connector, 16.0, 26.7, "configured", clock.now()))  # the core offers first
    hub.publish(SessionStarted(connector, sid, tag, meter_wh, clock.now()))
    for minute in range(1, minutes + 1):
        await clock.advance(60)
        power = power_w if minute <= minutes // 2 else power_w / 2
        meter_wh += power / 60
        hub.publish(MeterSampled(connector, MeterReading(meter_wh, power_total_w=power), clock.now(), sid))
        if minute == minutes // 2:
            hub.publish(OfferChanged(connector, 8.0, 13.3, "smart_charging", clock.now()))
    hub.publish(SessionStopped(connector, sid, reason, meter_wh, clock.now(), tag if reason ==
                               StopReason.LOCAL else None, tag))
    return meter_wh


async def test_a_simulated_week_of_sessions(tmp_path: Path) -> None:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    path = db_path(tmp_path)
    recorder = SessionRecorder(hub, clock, path, retention_days=365)  # type: ignore[arg-type]
    await recorder.start()
    meter = 1000.0
    samples = 0
    for day in range(7):
        await clock.advance((MONDAY + timedelta(days=day, hours=7) - clock.now()).total_seconds())
        meter = await charge(hub, clock, f"d{day}-morning", 1, "04AABBCC", meter, 120, 11000.0)
        await clock.advance(8 * 3600)
        meter = await charge(hub, clock, f"d{day}-evening", 1, "04DDEEFF", meter, 60, 7400.0,
                             StopReason.LOCAL)
        samples += 180
    await recorder.stop()

    store = SessionStore.open_read_only(path)
    records = store.sessions()
    store.close()
    assert len(records) == 14
    morning = records[0]
    assert morning.session_id == "d0-morning" and morning.id_tag == "04AABBCC"
    assert morning.started_at == MONDAY + timedelta(hours=7)
    assert morning.stopped_at == MONDAY + timedelta(hours=9)
    assert morning.meter_start_wh == 1000.0
    assert morning.energy_wh == pytest.approx(11000 + 5500)  # 1 h at 11 kW, 1 h at 5.5 kW
    assert morning.max_power_w == 11000.0
    assert morning.avg_power_w == pytest.approx(8250.0)
    assert morning.stop_reason == "EVDisconnected" and morning.stop_id_tag is None
    assert [(amps, reason) for _, amps, reason in morning.limit_changes] == \
        [(16.0, "configured"), (8.0, "smart_charging")]
    evening = records[1]
    assert evening.stop_reason == "Local" and evening.stop_id_tag == "04DDEEFF"
    assert evening.meter_start_wh == pytest.approx(morning.meter_stop_wh)
    assert all(r.stopped_at is not None for r in records)

    # SD-card wear: a write at start, one per 5-minute checkpoint, one at stop; never one per sample.
    checkpoints = 7 * (120 + 60) // 5
    assert recorder.writes <= 14 * 2 + checkpoints
    assert recorder.writes < samples / 4

    by_day = totals(records, "day", tz=UTC)
    assert [t.period for t in by_day] == [f"2026-01-{d:02d}" for d in range(5, 12)]
    assert all(t.sessions == 2 for t in by_day)
    assert by_day[0].energy_wh == pytest.approx(16500 + 7400 * 0.75)
    week = totals(records, "week", tz=UTC)
    assert [(t.period, t.sessions) for t in week] == [("2026-W02", 14)]
    assert week[0].energy_wh == pytest.approx(7 * (16500 + 5550))
    assert [t.period for t in totals(records, "month", tz=UTC)] == ["2026-01"]


async def test_a_running_session_is_saved_every_checkpoint_and_survives_a_crash(tmp_path: Path) -> None:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    path = db_path(tmp_path)
    recorder = SessionRecorder(hub, clock, path, retention_days=30, checkpoint_s=300)  # type: ignore[arg-type]
    await recorder.start()
    hub.publish(SessionStarted(1, "s1", "TAG", 500.0, clock.now()))
    for _ in range(10):
        await clock.advance(60)
        hub.publish(MeterSampled(1, MeterReading(600.0, power_total_w=3600.0), clock.now(), "s1"))
    # the process dies here (no stop): what is on disk is the last checkpoint, at most 5 minutes old
    reader = SessionStore.open_read_only(path)
    saved = reader.get("s1")
    reader.close()
    assert saved is not None and saved.stopped_at is None
    assert saved.meter_stop_wh == 600.0 and saved.max_power_w == 3600.0

    # after the restart the core reports the interrupted session as ended by power loss
    hub2 = EventHub()
    recorder2 = SessionRecorder(hub2, clock, path, retention_days=30)  # type: ignore[arg-type]
    hub2.publish(SessionStopped(1, "s1", StopReason.POWER_LOSS, 600.0, clock.now(), None, "TAG"))
    await recorder2.start()
    await recorder2.stop()
    reader = SessionStore.open_read_only(path)
    closed = reader.get("s1")
    reader.close()
    assert closed is not None and closed.stop_reason == "PowerLoss"
    assert closed.id_tag == "TAG" and closed.meter_start_wh == 500.0 and closed.energy_wh == 100.0
    await recorder.stop()


async def test_a_resumed_session_continues_its_saved_record(tmp_path: Path) -> None:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    path = db_path(tmp_path)
    first = SessionRecorder(hub, clock, path, retention_days=30)  # type: ignore[arg-type]
    hub.publish(SessionStarted(1, "s1", "TAG", 500.0, clock.now()))
    hub.publish(MeterSampled(1, MeterReading(700.0, power_total_w=7000.0), clock.now(), "s1"))
    first.flush()
    hub2 = EventHub()
    second = SessionRecorder(hub2, clock, path, retention_days=30)  # type: ignore[arg-type]
    await clock.advance(600)
    hub2.publish(MeterSampled(1, MeterReading(900.0, power_total_w=2000.0), clock.now(), "s1"))
    hub2.publish(SessionStopped(1, "s1", StopReason.EV_DISCONNECTED, 950.0, clock.now(), None, "TAG"))
    await second.stop()
    reader = SessionStore.open_read_only(path)
    record = reader.get("s1")
    reader.close()
    assert record is not None
    assert (record.meter_start_wh, record.meter_stop_wh, record.max_power_w) == (500.0, 950.0, 7000.0)
    await first.stop()


async def test_old_records_are_pruned_after_the_retention(tmp_path: Path) -> None:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    path = db_path(tmp_path)
    recorder = SessionRecorder(hub, clock, path, retention_days=3)  # type: ignore[arg-type]
    await recorder.start()
    for day in range(6):
        await charge(hub, clock, f"day{day}", 1, "T", 0.0, 30, 3600.0)
        await clock.advance(24 * 3600 - 30 * 60)
    await recorder.stop()
    store = SessionStore.open_read_only(path)
    kept = [r.session_id for r in store.sessions()]
    store.close()
    # the last daily prune ran at day 6 00:00: day2 stopped at day 2 00:30, more than 3 days before
    assert kept == ["day3", "day4", "day5"]


def test_a_full_or_broken_disk_does_not_stop_charging(tmp_path: Path) -> None:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    recorder = SessionRecorder(hub, clock, db_path(tmp_path), retention_days=3)  # type: ignore[arg-type]
    recorder._store.close()  # every write now fails
    hub.publish(SessionStarted(1, "s1", "TAG", 0.0, clock.now()))
    hub.publish(SessionStopped(1, "s1", StopReason.LOCAL, 10.0, clock.now(), "TAG", "TAG"))
    assert recorder.writes == 0


# --- the CLI ------------------------------------------------------------------------------------------

@pytest.fixture
async def week_db(tmp_path: Path) -> Path:
    clock = SimClock(start=MONDAY)
    hub = EventHub()
    recorder = SessionRecorder(hub, clock, db_path(tmp_path), retention_days=365)  # type: ignore[arg-type]
    meter = 0.0
    for day in range(7):
        await clock.advance((MONDAY + timedelta(days=day, hours=18) - clock.now()).total_seconds())
        meter = await charge(hub, clock, f"s{day}", 1 + day % 2, f"TAG{day}", meter, 60, 11000.0)
    await recorder.stop()
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    return config


def test_sessions_json_and_csv(week_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--config", str(week_db), "--json", "--since", "2026-01-08T00:00+00:00"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["session_id"] for r in rows] == ["s3", "s4", "s5", "s6"]
    assert rows[0]["started_at"] == "2026-01-08T18:00:00Z" and rows[0]["energy_wh"] == 8250.0
    assert rows[0]["limit_changes"][1] == {"at": "2026-01-08T18:30:00Z", "offered_a": 8.0,
                                           "reason": "smart_charging"}

    assert main(["sessions", "--config", str(week_db), "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 7
    assert table[1]["connector_id"] == "2" and table[1]["id_tag"] == "TAG1"
    assert float(table[1]["energy_wh"]) == 8250.0 and table[1]["limit_changes"] == "2"


def test_sessions_table_and_report(week_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--config", str(week_db)]) == 0
    out = capsys.readouterr().out
    assert "7 session(s), 57.750 kWh" in out and "TAG6" in out

    assert main(["report", "--config", str(week_db), "--by", "week", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"period": "2026-W02", "sessions": 7, "energy_kwh": 57.75, "hours": 7.0}]
    assert main(["report", "--config", str(week_db), "--by", "day", "--connector", "2", "--json"]) == 0
    assert [d["period"] for d in json.loads(capsys.readouterr().out)] == \
        ["2026-01-06", "2026-01-08", "2026-01-10"]
    assert main(["report", "--config", str(week_db), "--by", "month"]) == 0
    out = capsys.readouterr().out
    assert "2026-01" in out and "57.750" in out


def test_sessions_without_records_or_with_a_bad_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path / "empty"}"\n')
    # nothing recorded yet is an empty list, not an error (exit 0), with the reason on stderr
    assert main(["sessions", "--config", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no session records" in captured.err
    assert main(["report", "--config", str(config)]) == 0
    assert "no session records" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sessions", "--config", str(config), "--since", "last tuesday"])
    assert "not a date like 2026-01-05" in capsys.readouterr().err
