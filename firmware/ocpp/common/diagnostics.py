"""Diagnostics (OCPP 1.6 GetDiagnostics): collect logs and a state snapshot into a tar.gz, upload it.

`collect()` builds `diagnostics-<station>-<UTC time>.tar.gz` in `<state_dir>/diagnostics/` holding:
`state.json` (whatever `status_provider` returns, plus when and what was asked, plus notes on anything
that could not be collected); every configured log file (its newest 16 MiB at most); and, for each of
`journal_units`, that systemd unit's journal (for a service that logs to journald rather than to files).
With startTime/stopTime, journalctl filters the journal itself; in log files, lines are kept only when
their leading timestamp lies in the window (lines without one, e.g. traceback lines, follow the line
before them; naive timestamps are read as UTC), and files last written before startTime are left out.
All logs together are capped at MAX_ARCHIVE_BYTES (journals first; what does not fit is named in the
notes). `upload()` sends it by FTP (STOR), HTTP PUT or HTTP POST (multipart field `file`), retrying per
retries/retryInterval, with DiagnosticsStatusNotification Uploading -> Uploaded / UploadFailed (OCPP 1.6
§4.4). Every credential in the archive is masked (`firmware.redaction`), whoever wrote the log line.
`start()` uploads in the background, one upload at a time: a new one cancels the running one (the newest
request wins), and since a transfer in a thread cannot be interrupted, the next transfer waits until the
abandoned one has ended, so a flood of requests never runs more than one transfer at once. `begin()`
collects and starts: it returns the file name for GetDiagnostics.conf at once. `status` is `Idle` unless
an upload runs (for TriggerMessage).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import logging
import re
import ssl
import tarfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from firmware.ocpp.common.transfer import Failure, HttpUploadMethod, TransferError, check_url, masked, upload
from firmware.redaction import redact, redact_text
from hal.clock import Clock

log = logging.getLogger(__name__)

StatusProvider = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
Notify = Callable[[str], Awaitable[None]]

_TIMESTAMP = re.compile(r"^\s*\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)(Z|[+-]\d{2}:?\d{2})?")
KEEP_ARCHIVES = 3
MAX_LOG_BYTES = 16 * 1024 * 1024  # per log file: the newest part of a bigger one
MAX_ARCHIVE_BYTES = 48 * 1024 * 1024  # all logs together, before compression (transfer.MAX_UPLOAD_BYTES)
JOURNAL_TIMEOUT_S = 60.0


class DiagnosticsStatus(StrEnum):
    """DiagnosticsStatusNotification.req status values (OCPP 1.6 §7.24)."""

    IDLE = "Idle"
    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"


def line_time(line: str) -> datetime | None:
    """The timestamp a log line starts with (naive ones taken as UTC), or None."""
    match = _TIMESTAMP.match(line)
    if match is None:
        return None
    text = match.group(1).replace(",", ".").replace(" ", "T")
    zone = match.group(2) or ""
    if zone == "Z":
        zone = "+00:00"
    try:
        stamp = datetime.fromisoformat(text + zone)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def filter_lines(lines: Iterable[str], start: datetime | None, stop: datetime | None) -> Iterator[str]:
    """The lines whose timestamp is within [start, stop]; untimed lines go with the line before."""
    keep = start is None  # untimed lines at the top of a file are kept only without a start bound
    for line in lines:
        stamp = line_time(line)
        if stamp is not None:
            keep = (start is None or stamp >= start) and (stop is None or stamp <= stop)
        if keep:
            yield line


class DiagnosticsUploader:
    """Builds diagnostics archives and uploads them, one upload at a time."""

    def __init__(
        self,
        clock: Clock,
        state_dir: Path,
        log_paths: Iterable[Path],
        status_provider: StatusProvider,
        notify: Notify,
        *,
        station_id: str = "chargepi",
        http_method: HttpUploadMethod = "PUT",
        upload_timeout_s: float = 120.0,
        journal_units: Sequence[str] = (),
        journalctl: str = "journalctl",
        max_archive_bytes: int = MAX_ARCHIVE_BYTES,
        tls: Callable[[], ssl.SSLContext | None] = lambda: None,
    ) -> None:
        self._clock = clock
        self._dir = state_dir / "diagnostics"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._log_paths = list(log_paths)
        self._status_provider = status_provider
        self._notify = notify
        self._station_id = re.sub(r"[^A-Za-z0-9._-]", "_", station_id)
        self._http_method = http_method
        self._upload_timeout_s = upload_timeout_s
        self._journal_units = list(journal_units)
        self._journalctl = journalctl
        self._max_archive_bytes = max_archive_bytes
        self._tls = tls  # the TLS context of an https:// upload, made per upload (None: the system's)
        self._status = DiagnosticsStatus.IDLE
        self._task: asyncio.Task[Any] | None = None
        self._transfer: asyncio.Future[str] | None = None  # the thread of the latest transfer
        self.last_failure: Failure | None = None  # why the last attempt of the last upload failed

    @property
    def directory(self) -> Path:
        """Where archives are built (and kept until they are replaced by newer ones)."""
        return self._dir

    @property
    def status(self) -> DiagnosticsStatus:
        """What a triggered DiagnosticsStatusNotification reports: Idle unless an upload runs."""
        return self._status

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def begin(
        self,
        location: str,
        retries: int = 1,
        retry_interval_s: float = 60.0,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
    ) -> str:
        """Collect now, upload in the background; return the archive's file name for GetDiagnostics.conf.

        A running upload is cancelled first (the newest request wins). Raises TransferError for a
        location we cannot upload to (the caller then answers without a file name).
        """
        check_url(location)
        archive = await self.collect(start_time, stop_time)
        await self.start(archive, location, retries, retry_interval_s)
        return archive.name

    async def start(self, archive: Path, location: str, retries: int = 1, retry_interval_s: float = 60.0,
                    spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]] | None = None) -> bool:
        """Upload `archive` in the background (as a task made by `spawn`, default a plain task), after
        cancelling the upload that runs; True when one was cancelled."""
        replaced = await self.stop()
        work = self.upload(archive, location, retries, retry_interval_s)
        self._task = spawn(work, "diagnostics-upload") if spawn is not None else asyncio.create_task(work)
        return replaced

    async def stop(self) -> bool:
        """Cancel a running upload (no status is sent for it); True if one ran."""
        task, self._task = self._task, None
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def wait(self) -> DiagnosticsStatus | None:
        """Wait for the background upload started by `begin` and return its final status."""
        return await self._task if self._task is not None else None

    async def collect(self, start_time: datetime | None = None, stop_time: datetime | None = None) -> Path:
        """Build the archive and return its path (older archives beyond the last few are deleted)."""
        provided = self._status_provider()
        snapshot = dict(await provided if inspect.isawaitable(provided) else provided)
        now = self._clock.now().astimezone(UTC)
        state = {
            "collected_at": now.isoformat().replace("+00:00", "Z"),
            "start_time": start_time.isoformat() if start_time else None,
            "stop_time": stop_time.isoformat() if stop_time else None,
            "log_files": [str(p) for p in self._log_paths],
            "state": snapshot,
        }
        journals: dict[str, bytes] = {}
        for unit in self._journal_units:
            journals[f"logs/journal-{unit}.log"] = await self._journal(unit, start_time, stop_time, state)
        name = f"diagnostics-{self._station_id}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
        archive = self._dir / name
        await asyncio.to_thread(self._write_archive, archive, state, journals, start_time, stop_time)
        self.prune("diagnostics-*.tar.gz")
        return archive

    def prune(self, pattern: str) -> None:
        """Delete the archives matching `pattern` in the directory but the newest KEEP_ARCHIVES."""
        for old in sorted(self._dir.glob(pattern))[:-KEEP_ARCHIVES]:
            old.unlink(missing_ok=True)

    async def _journal(
        self, unit: str, start: datetime | None, stop: datetime | None, state: dict[str, Any]
    ) -> bytes:
        """The systemd journal of `unit` in the window (journalctl's own filter), or b"" with a note."""
        argv = [self._journalctl, "--unit", unit, "--no-pager", "--output", "short-iso-precise"]
        if start is not None:
            argv.append(f"--since={start.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC")
        if stop is not None:
            argv.append(f"--until={stop.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await asyncio.wait_for(proc.communicate(), JOURNAL_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            state.setdefault("notes", []).append(f"journal of {unit}: {type(exc).__name__}: {exc}")
            return b""
        if proc.returncode != 0:
            state.setdefault("notes", []).append(
                f"journal of {unit}: exit {proc.returncode}: {err.decode(errors='replace').strip()}"
            )
        return out[-MAX_LOG_BYTES:]

    def _write_archive(
        self,
        archive: Path,
        state: dict[str, Any],
        journals: dict[str, bytes],
        start: datetime | None,
        stop: datetime | None,
    ) -> None:
        part = archive.with_name(archive.name + ".part")
        now = self._clock.now().timestamp()
        budget = self._max_archive_bytes

        def add(name: str, body: bytes, mtime: float) -> None:
            nonlocal budget
            if len(body) > budget:
                limit = self._max_archive_bytes
                state.setdefault("notes", []).append(
                    f"{name} left out ({len(body)} bytes): the archive is limited to {limit}")
                return
            budget -= len(body)
            _add_bytes(tar, name, body, mtime)

        with tarfile.open(part, "w:gz") as tar:
            for name, data in journals.items():  # the service's own journal first
                add(name, _masked(data.decode("utf-8", errors="replace")), now)
            for path in self._log_files():
                try:
                    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    if start is not None and modified < start:
                        continue
                    data = _tail(path)
                except OSError as exc:
                    state.setdefault("notes", []).append(f"{path}: {exc}")
                    continue
                text = data.decode("utf-8", errors="replace")
                if start is not None or stop is not None:
                    text = "".join(filter_lines(text.splitlines(keepends=True), start, stop))
                add(f"logs/{path.name}", _masked(text), modified.timestamp())
            _add_bytes(tar, "state.json", json.dumps(redact(state), indent=2, default=str).encode(), now)
        part.replace(archive)

    def _log_files(self) -> Iterator[Path]:
        for path in self._log_paths:
            if path.is_dir():
                yield from sorted(p for p in path.iterdir() if p.is_file())
            elif path.is_file():
                yield path

    async def upload(
        self, archive: Path, location: str, retries: int = 1, retry_interval_s: float = 60.0
    ) -> DiagnosticsStatus:
        """Upload `archive` with up to `retries` attempts (min 1); return Uploaded or UploadFailed."""
        attempts = max(1, retries)
        self.last_failure = None
        try:
            await self._send(DiagnosticsStatus.UPLOADING)
            for attempt in range(1, attempts + 1):
                previous = self._transfer
                if previous is not None and not previous.done():
                    await asyncio.wait({previous})  # a cancelled upload's thread still sending: one at a time
                transfer = self._transfer = asyncio.ensure_future(asyncio.to_thread(
                    upload, location, archive, self._upload_timeout_s, self._http_method, self._tls()))
                transfer.add_done_callback(_retrieved)
                try:
                    where = await asyncio.shield(transfer)
                except TransferError as exc:
                    self.last_failure = exc.failure
                    log.warning("diagnostics upload attempt %d/%d: %s", attempt, attempts, exc)
                    if attempt < attempts:
                        await self._clock.sleep(max(0.0, retry_interval_s))
                    continue
                log.info("diagnostics uploaded to %s", where)
                await self._send(DiagnosticsStatus.UPLOADED, final=True)
                return DiagnosticsStatus.UPLOADED
            log.error("diagnostics upload to %s failed after %d attempts", masked(location), attempts)
            await self._send(DiagnosticsStatus.UPLOAD_FAILED, final=True)
            return DiagnosticsStatus.UPLOAD_FAILED
        finally:
            self._status = DiagnosticsStatus.IDLE

    async def _send(self, status: DiagnosticsStatus, final: bool = False) -> None:
        # The upload is over once its outcome is known: a trigger answered while the outcome is
        # still on its way reports Idle, never that outcome a second time.
        self._status = DiagnosticsStatus.IDLE if final else status
        try:
            await self._notify(status)
        except Exception:
            log.exception("DiagnosticsStatusNotification %s could not be sent", status)


def _retrieved(transfer: asyncio.Future[str]) -> None:
    """Take the outcome of a transfer nobody waits for any more (its upload was cancelled)."""
    if not transfer.cancelled():
        transfer.exception()


def _tail(path: Path) -> bytes:
    """The file's content, at most its last MAX_LOG_BYTES (read whole: a growing log can't break the tar)."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        file.seek(max(0, size - MAX_LOG_BYTES))
        return file.read(MAX_LOG_BYTES)


def _masked(text: str) -> bytes:
    """Log text with every credential masked (lines written before redaction existed, or by other
    programs, must not leave the charger either)."""
    return redact_text(text).encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
