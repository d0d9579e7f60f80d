"""The security event log: a rolling, persistent record of security-relevant events.

Event types are the ones the OCPP 1.6 security whitepaper (edition 2, appendix 1) and OCPP 2.0.1 (part 2,
appendix 1) define with the same names (`SecurityEventType`); other names are allowed (vendor events).
Each type says whether it is *critical* (the specification requires the back end to be told) and whether
this charger reports it to the back end at all (`notify`): critical events, plus rejections of
certificates and signatures that a back-end request caused, so the operator learns why a request failed.
Non-reported events (e.g. InvalidMessages) stay local, so a peer sending garbage cannot make us flood it.

Entries live in SQLite (`<state_dir>/security.sqlite3`, mode 0600) and survive restarts and power loss;
the log keeps the newest `max_entries` and drops the oldest beyond that. The file is a `StateDatabase`
of the state directory (firmware/storage/) like every other store: a corrupt file is quarantined and what
can be read of it rebuilt (and the log then starts with a SecurityLogWasCleared entry); on a full disk
it gives way to the essential records and keeps its entries in memory until there is space again.
Any process may record events (e.g. the firmware installer); listeners in this process are told about
each new entry, and a protocol layer that must deliver events reads them by sequence number (`since`),
keeping its own cursor.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir
from hal.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 5000
PRUNE_EVERY = 100  # inserts between prunes of the oldest entries
TYPE_MAX = 50  # SecurityEventNotification.type maxLength (1.6 and 2.0.1)
TECH_INFO_MAX = 255  # techInfo maxLength


class SecurityEventType(StrEnum):
    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCentralSystem"
    CSMS_FAILED_TO_AUTHENTICATE = "CentralSystemFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CSMS_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"


# Critical per the whitepaper's appendix 1 (the same seven are critical in OCPP 2.0.1).
CRITICAL = frozenset({
    SecurityEventType.FIRMWARE_UPDATED, SecurityEventType.SETTING_SYSTEM_TIME,
    SecurityEventType.STARTUP_OF_THE_DEVICE, SecurityEventType.RESET_OR_REBOOT,
    SecurityEventType.SECURITY_LOG_WAS_CLEARED, SecurityEventType.MEMORY_EXHAUSTION,
    SecurityEventType.TAMPER_DETECTION_ACTIVATED,
})
# Not critical, but reported too: each one answers a back-end action (a certificate or firmware it sent,
# a TLS setup it offers) and happens at most once per request or connection attempt.
REPORTED = CRITICAL | {
    SecurityEventType.INVALID_FIRMWARE_SIGNATURE, SecurityEventType.INVALID_FIRMWARE_SIGNING_CERTIFICATE,
    SecurityEventType.INVALID_CSMS_CERTIFICATE, SecurityEventType.INVALID_CHARGING_STATION_CERTIFICATE,
    SecurityEventType.INVALID_TLS_VERSION, SecurityEventType.INVALID_TLS_CIPHER_SUITE,
}


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    seq: int
    timestamp: datetime
    type: str
    tech_info: str | None
    critical: bool
    notify: bool


Listener = Callable[[SecurityEvent], None]


def _row(row: tuple[int, str, str, str | None, int, int]) -> SecurityEvent:
    return SecurityEvent(row[0], datetime.fromisoformat(row[1]), row[2], row[3], bool(row[4]), bool(row[5]))


def _create(db: StateDatabase) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS security_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "timestamp TEXT NOT NULL, type TEXT NOT NULL, tech_info TEXT, critical INTEGER NOT NULL, "
        "notify INTEGER NOT NULL)")


class SecurityLog:
    def __init__(self, path: Path, clock: Clock, max_entries: int = DEFAULT_MAX_ENTRIES,
                 storage: StateDir | None = None) -> None:
        self.path = path
        self._clock = clock
        self._max = max_entries
        state = storage if storage is not None and storage.path == path.parent else StateDir(path.parent)
        known = len(state.quarantined)
        # Not essential (the outbox holds what must reach the CSMS); synchronous=FULL: an entry written is
        # on the disk. Mode 0600: entries name certificates, URLs and peers.
        self._db = StateDatabase(state, path.name, essential=False, synchronous="FULL", private=True,
                                 setup=_create)
        self._listeners: list[Listener] = []
        for lost in state.quarantined[known:]:
            if lost["file"] == path.name:  # the old log is gone (kept aside): say so in the new one
                self.record(SecurityEventType.SECURITY_LOG_WAS_CLEARED,
                            f"{path.name} was corrupt ({lost['error']}); kept as {lost['kept_as']}, "
                            "readable entries rebuilt")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def record(self, type: str, tech_info: str | None = None, *, critical: bool | None = None,
               notify: bool | None = None) -> SecurityEvent:
        """Append an event (now) and tell the listeners. Known types get their criticality by default."""
        name = str(type)[:TYPE_MAX]
        is_critical = name in CRITICAL if critical is None else critical
        reported = (name in REPORTED or is_critical) if notify is None else notify
        info = " ".join(tech_info.split())[:TECH_INFO_MAX] if tech_info else None
        now = self._clock.now().astimezone(UTC)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO security_events (timestamp, type, tech_info, critical, notify) "
                "VALUES (?, ?, ?, ?, ?)", (now.isoformat(), name, info, int(is_critical), int(reported)))
            seq = int(cur.lastrowid or 0)
            if seq % PRUNE_EVERY == 0:
                self._db.execute("DELETE FROM security_events WHERE seq <= ?", (seq - self._max,))
        event = SecurityEvent(seq, now, name, info, is_critical, reported)
        log.warning("security event %s%s", name, f": {info}" if info else "")
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("security event listener failed")
        return event

    def since(self, seq: int, *, reported_only: bool = False) -> list[SecurityEvent]:
        """Entries after sequence number `seq`, oldest first (only those to report, if asked)."""
        rows = self._db.execute(
            "SELECT seq, timestamp, type, tech_info, critical, notify FROM security_events WHERE seq > ? "
            + ("AND notify = 1 " if reported_only else "") + "ORDER BY seq", (seq,))
        return [_row(r) for r in rows]

    def entries(self, start: datetime | None = None, stop: datetime | None = None) -> list[SecurityEvent]:
        """Entries with start <= timestamp <= stop (either bound optional), oldest first."""
        return [e for e in self.since(0)
                if (start is None or e.timestamp >= start) and (stop is None or e.timestamp <= stop)]

    def export(self, dest: Path, start: datetime | None = None, stop: datetime | None = None) -> Path:
        """Write the entries in the window to `dest` as gzip-compressed text, one event per line."""
        part = dest.with_name(dest.name + ".part")
        with gzip.open(part, "wt", encoding="utf-8") as out:
            for e in self.entries(start, stop):
                flag = " critical" if e.critical else ""
                out.write(f"{e.timestamp.isoformat()} #{e.seq} {e.type}{flag}"
                          f"{' ' + e.tech_info if e.tech_info else ''}\n")
        part.replace(dest)
        return dest

    def close(self) -> None:
        self._db.close()


def open_security_log(state_dir: Path, clock: Clock, storage: StateDir | None = None) -> SecurityLog:
    """The charger's security log, `<state_dir>/security.sqlite3` (in `storage`, the state directory's
    manager, when given)."""
    return SecurityLog(state_dir / "security.sqlite3", clock, storage=storage)
