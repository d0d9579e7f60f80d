"""SessionRecorder: turns the core's events into session records, with few writes.

Per session it keeps in memory the meter start, the latest meter value, the highest power seen and the
changes of the offered current; it writes the record when the session starts, every
`checkpoint_s` while it runs (only if something changed) and when it stops. Finished records older
than the retention are pruned at start and once a day.

It subscribes to the station in its constructor, so a session the core closes at start-up (power loss)
is recorded too; a session the core resumes after a power loss is picked up from its saved record on its
first meter sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from firmware.control.roles import Role
from firmware.control.server import ControlError, ControlServer
from firmware.core.api import StationApi
from firmware.core.events import CoreEvent, MeterSampled, OfferChanged, SessionStarted, SessionStopped
from firmware.sessions.store import SessionRecord, SessionStore
from firmware.storage.statedir import StateDir
from hal.clock import Clock

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 24 * 3600


class SessionRecorder:
    def __init__(self, station: StationApi, clock: Clock, db_path: Path, retention_days: int,
                 checkpoint_s: float = 300.0, storage: StateDir | None = None) -> None:
        self._clock = clock
        self._store = SessionStore.open(db_path, storage)
        self._retention = timedelta(days=retention_days)
        self._checkpoint_s = checkpoint_s
        self._running: dict[str, SessionRecord] = {}  # by session id
        self._dirty: set[str] = set()
        self._offers: dict[int, tuple[float, str]] = {}  # last offer per connector
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = station.subscribe(self._on_event)
        self.writes = 0  # rows written since start (for tests and the benchmark)

    @property
    def store(self) -> SessionStore:
        return self._store

    def register(self, control: ControlServer) -> None:
        """The `sessions` control command (read-only role): records started in [since, until)."""
        async def sessions(args: dict[str, Any]) -> list[dict[str, Any]]:
            try:
                since, until = (datetime.fromisoformat(args[k]) if args.get(k) else None
                                for k in ("since", "until"))
            except (TypeError, ValueError) as exc:
                raise ControlError(f"since/until must be ISO 8601 times: {exc}") from None
            self.flush()
            return [r.as_dict() for r in self._store.sessions(since, until)]

        control.register("sessions", sessions, Role.READ_ONLY)

    async def start(self) -> None:
        self._prune()
        self._task = asyncio.create_task(self._periodic(), name="session-recorder")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        self._store.close()

    def flush(self) -> None:
        """Write every running session that changed since its last write."""
        for session_id in sorted(self._dirty):
            self._write(self._running[session_id])
        self._dirty.clear()

    # --- events -------------------------------------------------------------------------------------
    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, SessionStarted):
            record = SessionRecord(event.session_id, event.connector_id, event.id_tag, event.timestamp,
                                   event.meter_start_wh, event.meter_start_wh)
            offer = self._offers.get(event.connector_id)
            if offer is not None:  # the limit in force when the session starts
                record.add_limit_change(event.timestamp, *offer)
            self._running[event.session_id] = record
            self._write(record)
        elif isinstance(event, MeterSampled) and event.session_id is not None:
            sampled = self._record(event.session_id)
            if sampled is None:
                return
            sampled.meter_stop_wh = max(sampled.meter_stop_wh, event.reading.energy_import_wh)
            sampled.max_power_w = max(sampled.max_power_w, event.reading.total_power_w)
            self._dirty.add(sampled.session_id)
        elif isinstance(event, OfferChanged):
            self._offers[event.connector_id] = (event.offered_a, event.reason)
            for record in self._running.values():
                if record.connector_id == event.connector_id:
                    record.add_limit_change(event.timestamp, event.offered_a, event.reason)
                    self._dirty.add(record.session_id)
        elif isinstance(event, SessionStopped):
            self._stopped(event)

    def _record(self, session_id: str) -> SessionRecord | None:
        """The running record, or one saved before a restart (a resumed session)."""
        running = self._running.get(session_id)
        if running is not None:
            return running
        saved = self._store.get(session_id)
        if saved is None or saved.stopped_at is not None:
            return None
        self._running[session_id] = saved
        return saved

    def _stopped(self, event: SessionStopped) -> None:
        record = self._record(event.session_id)
        if record is None:  # started before the recorder existed or never saved: the event has the figures
            meter_start = event.meter_start_wh if event.meter_start_wh is not None else event.meter_stop_wh
            record = SessionRecord(event.session_id, event.connector_id, event.start_id_tag,
                                   event.started_at or event.timestamp, meter_start, meter_start)
        record.stopped_at = event.timestamp
        record.meter_stop_wh = max(record.meter_stop_wh, event.meter_stop_wh)
        record.max_power_w = max(record.max_power_w, event.max_power_w or 0.0)
        record.stop_reason = event.reason.value
        record.stop_id_tag = event.id_tag
        self._running.pop(event.session_id, None)
        self._dirty.discard(event.session_id)
        self._write(record)

    # --- writing ------------------------------------------------------------------------------------
    def _write(self, record: SessionRecord) -> None:
        try:
            self._store.save(record)
            self.writes += 1
        except Exception:  # a full or failing SD card must not stop the charger
            log.exception("could not save session %s", record.session_id)

    def _prune(self) -> None:
        try:
            removed = self._store.prune(self._clock.now() - self._retention)
        except Exception:
            log.exception("could not prune old session records")
            return
        if removed:
            log.info("removed %d session record(s) older than %s", removed, self._retention)

    async def _periodic(self) -> None:
        since_prune = 0.0
        while True:
            await self._clock.sleep(self._checkpoint_s)
            self.flush()
            since_prune += self._checkpoint_s
            if since_prune >= PRUNE_INTERVAL_S:
                since_prune = 0.0
                self._prune()
