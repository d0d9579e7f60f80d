"""The state directory: checked writable at start, a space reserve for essential records, quarantined files.

- `check_writable` turns an unwritable directory into one `StateDirError` line (what, where, the fix)
  instead of a traceback deep inside SQLite.
- The reserve is a file of `reserve_bytes` allocated blocks (`<state_dir>/space-reserve`). When an
  essential database (transactions, queued OCPP messages, the power-loss journal) finds the disk full,
  the reserve is deleted and the write retried, so those records keep reaching the disk while
  non-essential ones (session history) move into memory. `StorageMonitor` checks every
  `CHECK_INTERVAL_S` whether there is space again: it writes databases held in memory back (essential
  first), then puts the reserve back. It also tells its `on_short` listener once each time space runs
  short (the charger records that as a MemoryExhaustion security event), outside any transaction.
- `quarantine` renames a corrupt file to `<name>.corrupt-<UTC time>` (with its -wal file) for analysis.

`status()` is the `storage` section of `chargepi status --json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hal.clock import Clock

log = logging.getLogger(__name__)

RESERVE_NAME = "space-reserve"
CHECK_INTERVAL_S = 30.0


class StateDirError(Exception):
    """The state directory cannot be used; the message is the one line a technician needs."""


def check_writable(path: Path) -> None:
    """Create `path` if needed and prove that files can be created and written in it."""
    probe = path / ".write-test"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as f:
            f.write(b"ok")
        probe.unlink()
        for existing in sorted(path.glob("*.sqlite*")):
            with existing.open("r+b"):
                pass
    except OSError as exc:
        where = exc.filename or path
        reason = exc.strerror or type(exc).__name__
        if exc.errno == errno.ENOSPC:
            return  # full, not unwritable: the databases cope with that
        raise StateDirError(
            f"state directory {path} is not writable ({reason}: {where}). Fix: make it writable for the "
            f"service user (`sudo chown -R chargepi: {path}`) or set [station] state_dir"
        ) from exc


class DirDatabase(Protocol):
    """What the directory needs from each database in it (firmware/storage/database.py registers them)."""

    name: str
    essential: bool

    @property
    def in_memory(self) -> bool: ...

    def write_back(self) -> bool: ...


class StateDir:
    def __init__(self, path: Path, reserve_bytes: int = 0) -> None:
        self.path = path
        self.reserve_bytes = reserve_bytes
        self.reserve_path = path / RESERVE_NAME
        self.quarantined: list[dict[str, str]] = []
        self._databases: list[DirDatabase] = []
        path.mkdir(parents=True, exist_ok=True)
        self.reserve_released = False
        self.ensure_reserve()

    # --- databases -----------------------------------------------------------------------------------
    def register(self, database: DirDatabase) -> None:
        self._databases.append(database)

    def unregister(self, database: DirDatabase) -> None:
        with contextlib.suppress(ValueError):
            self._databases.remove(database)

    @property
    def degraded(self) -> bool:
        """Space is short: the reserve is in use or a database lives in memory."""
        return self.reserve_released or any(db.in_memory for db in self._databases)

    # --- the reserve ---------------------------------------------------------------------------------
    def ensure_reserve(self) -> bool:
        """Put the reserve in place (if there is room for it). True when it is there."""
        if self.reserve_bytes <= 0:
            self.reserve_released = False
            return True
        with contextlib.suppress(OSError):
            if self.reserve_path.stat().st_size >= self.reserve_bytes:
                self.reserve_released = False
                return True
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)  # blocks really allocated, no data written
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()
            if not self.reserve_released:
                log.warning("state directory %s: no room for the %d KiB space reserve (%s)", self.path,
                            self.reserve_bytes // 1024, exc.strerror or exc)
            self.reserve_released = True
            return False
        if self.reserve_released:
            log.warning("state directory %s: space reserve back in place", self.path)
        self.reserve_released = False
        return True

    def release_reserve(self) -> bool:
        """Free the reserve for an essential write. True if that freed space now."""
        try:
            self.reserve_path.unlink()
        except FileNotFoundError:
            self.reserve_released = True
            return False
        self.reserve_released = True
        log.error("state directory %s: disk full, released the %d KiB reserve for essential records; "
                  "session history is kept in memory until there is space again", self.path,
                  self.reserve_bytes // 1024)
        return True

    # --- space again ---------------------------------------------------------------------------------
    def recover(self) -> None:
        """Write databases kept in memory back when there is room, essential ones first, then the
        reserve; non-essential ones only once the reserve is back."""
        for db in sorted(self._databases, key=lambda d: not d.essential):
            if db.in_memory and db.essential:
                db.write_back()
        if self.reserve_released and not any(db.in_memory and db.essential for db in self._databases):
            self.ensure_reserve()
        if not self.reserve_released:
            for db in self._databases:
                if db.in_memory:
                    db.write_back()

    # --- corrupt files -------------------------------------------------------------------------------
    def quarantine(self, path: Path, exc: BaseException) -> Path | None:
        """Move a corrupt database (and its -wal/-shm files) aside; returns the kept file."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 1
        while kept.exists():
            n += 1
            kept = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        moved: Path | None = None
        with contextlib.suppress(FileNotFoundError):
            path.rename(kept)
            moved = kept
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                if suffix == "-wal":
                    side.rename(kept.with_name(kept.name + suffix))
                else:
                    side.unlink()
        log.error("state file %s is corrupt (%s): kept as %s for analysis; starting with a new one, "
                  "rebuilding what can be read", path, exc, kept.name)
        self.quarantined.append({"file": path.name, "kept_as": kept.name, "error": str(exc),
                                 "at": stamp})
        return moved

    # --- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        try:
            usage = shutil.disk_usage(self.path)
            free: int | None = usage.free
        except OSError:
            free = None
        in_memory = sorted(db.name for db in self._databases if db.in_memory)
        if any(db.in_memory and db.essential for db in self._databases):
            condition = "disk_full"
        elif self.degraded:
            condition = "low_space"
        else:
            condition = "ok"
        return {
            "path": str(self.path),
            "condition": condition,
            "free_bytes": free,
            "reserve_bytes": 0 if self.reserve_released else self.reserve_bytes,
            "in_memory": in_memory,
            "quarantined": list(self.quarantined),
        }


class StorageMonitor:
    """Feature: every `CHECK_INTERVAL_S`, while space is short, try to write back and restore the reserve;
    `on_short(detail)` is called once when space runs short (again after it was fine in between)."""

    def __init__(self, state: StateDir, clock: Clock, interval_s: float = CHECK_INTERVAL_S,
                 on_short: Callable[[str], object] | None = None) -> None:
        self._state = state
        self._clock = clock
        self._interval_s = interval_s
        self._on_short = on_short
        self._told = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="storage-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._state.recover()

    def _tell(self) -> None:
        degraded = self._state.degraded
        if degraded and not self._told and self._on_short is not None:
            status = self._state.status()
            in_memory = ", ".join(status["in_memory"]) or "none"
            self._on_short(f"state directory {status['path']} full ({status['condition']}): space reserve "
                           f"{'released' if self._state.reserve_released else 'kept'}, kept in memory: "
                           f"{in_memory}")
        self._told = degraded

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._interval_s)
            try:
                self._tell()
            except Exception:
                log.exception("state directory %s: reporting the full disk failed", self._state.path)
            if self._state.degraded:
                try:
                    self._state.recover()
                except Exception:
                    log.exception("state directory %s: recovery from a full disk failed", self._state.path)
