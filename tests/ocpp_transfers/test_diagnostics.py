"""DiagnosticsUploader: archive contents and time filtering, uploads to real HTTP and FTP servers."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.ocpp.common.diagnostics import DiagnosticsStatus, DiagnosticsUploader, filter_lines
from firmware.ocpp.common.transfer import TransferError, download, masked, upload
from hal.clock import SimClock
from tests.ocpp_transfers.conftest import FtpFiles, HttpFiles
from tests.ocpp_transfers.waiting import eventually

LOG = (
    "2026-01-05 07:00:00,100 INFO early line\n"
    "2026-01-05T07:30:00Z WARNING inside the window\n"
    "Traceback (most recent call last):\n"
    "  File x, line 1\n"
    "2026-01-05T09:00:00+01:00 INFO also inside (08:00Z)\n"
    "2026-01-05T09:30:00Z INFO after the window\n"
)


class Recorder:
    """The statuses notified, and what a trigger answered meanwhile would have reported."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.triggered: list[str] = []
        self.uploader: DiagnosticsUploader | None = None

    async def __call__(self, status: str) -> None:
        self.sent.append(status)
        if self.uploader is not None:
            self.triggered.append(str(self.uploader.status))


def make(tmp_path: Path, clock: SimClock, notify: Recorder, **kw: object) -> DiagnosticsUploader:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "chargepi.log").write_text(LOG)
    old = logs / "chargepi.log.1"
    old.write_text("2025-12-01T00:00:00Z INFO last month\n")
    stamp = datetime(2025, 12, 1, tzinfo=UTC).timestamp()
    os.utime(old, (stamp, stamp))

    def status() -> dict[str, object]:
        return {"connectors": {"1": "Charging"}, "queue_depth": 3}

    notify.uploader = DiagnosticsUploader(
        clock,
        tmp_path / "state",
        [logs],
        status,
        notify,
        station_id="CP 1/x",
        **kw,  # type: ignore[arg-type]
    )
    return notify.uploader


def members(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_filter_lines_keeps_the_window_and_continuation_lines() -> None:
    start = datetime(2026, 1, 5, 7, 15, tzinfo=UTC)
    stop = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert (
        list(filter_lines(LOG.splitlines(keepends=True), start, stop)) == LOG.splitlines(keepends=True)[1:5]
    )
    assert list(filter_lines(["untimed\n"], None, None)) == ["untimed\n"]
    assert list(filter_lines(["untimed\n"], start, None)) == []


async def test_collect_archives_state_and_filtered_logs(tmp_path: Path) -> None:
    clock = SimClock()
    uploader = make(tmp_path, clock, Recorder())
    archive = await uploader.collect(
        datetime(2026, 1, 5, 7, 15, tzinfo=UTC), datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    )
    assert archive.name == "diagnostics-CP_1_x-20260105T080000Z.tar.gz"
    content = members(archive.read_bytes())
    assert set(content) == {"state.json", "logs/chargepi.log"}  # the old rotated file is out of the window
    assert "inside the window" in content["logs/chargepi.log"]
    assert "also inside" in content["logs/chargepi.log"]
    assert "early line" not in content["logs/chargepi.log"]
    assert "after the window" not in content["logs/chargepi.log"]
    state = json.loads(content["state.json"])
    assert state["state"] == {"connectors": {"1": "Charging"}, "queue_depth": 3}
    assert state["collected_at"] == "2026-01-05T08:00:00Z"

    everything = members((await uploader.collect()).read_bytes())
    assert everything["logs/chargepi.log"] == LOG
    assert "last month" in everything["logs/chargepi.log.1"]


async def test_journal_of_the_service_is_collected_for_the_window(tmp_path: Path) -> None:
    fake = tmp_path / "journalctl"
    fake.write_text('#!/bin/sh\necho "2026-01-05T07:20:00.000000+0000 host chargepi[1]: args: $*"\n')
    fake.chmod(0o755)
    uploader = make(tmp_path, SimClock(), Recorder(), journal_units=["chargepi"], journalctl=str(fake))
    archive = await uploader.collect(
        datetime(2026, 1, 5, 7, 15, tzinfo=UTC), datetime(2026, 1, 5, 8, tzinfo=UTC)
    )
    journal = members(archive.read_bytes())["logs/journal-chargepi.log"]
    assert "--unit chargepi --no-pager --output short-iso-precise" in journal
    assert "--since=2026-01-05 07:15:00 UTC --until=2026-01-05 08:00:00 UTC" in journal


async def test_missing_journalctl_is_noted_not_fatal(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-journalctl")
    uploader = make(tmp_path, SimClock(), Recorder(), journal_units=["chargepi"], journalctl=missing)
    content = members((await uploader.collect()).read_bytes())
    assert content["logs/journal-chargepi.log"] == ""
    [note] = json.loads(content["state.json"])["notes"]
    assert note.startswith("journal of chargepi: FileNotFoundError")
    assert content["logs/chargepi.log"] == LOG


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 2)), st.none())
    ),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 2)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=24)),
)
def test_filter_lines_keeps_exactly_the_window(
    stamps: list[datetime | None], start: datetime, length: timedelta
) -> None:
    lines = [
        f"{t.isoformat()} INFO line {i}\n" if t else f"  continuation {i}\n" for i, t in enumerate(stamps)
    ]
    begin, end = start.replace(tzinfo=UTC), (start + length).replace(tzinfo=UTC)
    kept = list(filter_lines(lines, begin, end))
    owner: datetime | None = None  # the timestamp each line belongs to
    expected = []
    for stamp, line in zip(stamps, lines, strict=True):
        owner = stamp or owner
        if owner is not None and begin <= owner.replace(tzinfo=UTC) <= end:
            expected.append(line)
    assert kept == expected


async def test_http_put_upload_into_a_directory_url(tmp_path: Path, http_files: HttpFiles) -> None:
    clock, notify = SimClock(), Recorder()
    uploader = make(tmp_path, clock, notify)
    assert uploader.status is DiagnosticsStatus.IDLE
    name = await uploader.begin(f"http://tech:pa%20ss@127.0.0.1:{http_files.port}/diag/")
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOADED
    assert notify.sent == ["Uploading", "Uploaded"]
    assert notify.triggered == ["Uploading", "Idle"]  # the outcome is not reported twice
    assert uploader.status is DiagnosticsStatus.IDLE
    [(method, path, headers, body)] = http_files.uploads
    assert (method, path) == ("PUT", f"/diag/{name}")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"tech:pa ss").decode()
    assert "state.json" in members(body)


async def test_http_post_upload_as_multipart(tmp_path: Path, http_files: HttpFiles) -> None:
    clock, notify = SimClock(), Recorder()
    uploader = make(tmp_path, clock, notify, http_method="POST")
    name = await uploader.begin(http_files.url("/upload"))
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOADED
    [(method, path, headers, body)] = http_files.uploads
    assert (method, path) == ("POST", "/upload")
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert f'filename="{name}"'.encode() in body
    archive = (tmp_path / "state/diagnostics" / name).read_bytes()
    assert archive in body


async def test_ftp_upload_retries_until_the_directory_exists(tmp_path: Path, ftp_files: FtpFiles) -> None:
    clock, notify = SimClock(), Recorder()
    uploader = make(tmp_path, clock, notify)
    name = await uploader.begin(ftp_files.url("/incoming/"), retries=2, retry_interval_s=300)
    await eventually(lambda: clock.next_deadline is not None)
    assert uploader.status is DiagnosticsStatus.UPLOADING
    (ftp_files.root / "incoming").mkdir()
    await clock.advance(300)
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOADED
    assert notify.sent == ["Uploading", "Uploaded"]
    stored = (ftp_files.root / "incoming" / name).read_bytes()
    assert stored == (tmp_path / "state/diagnostics" / name).read_bytes()


async def test_upload_fails_after_all_retries(tmp_path: Path, http_files: HttpFiles) -> None:
    http_files.fail_next = 10
    clock, notify = SimClock(), Recorder()
    uploader = make(tmp_path, clock, notify)
    await uploader.begin(http_files.url("/diag/"), retries=3, retry_interval_s=60)
    for n in (1, 2):

        def retry_pending(n: int = n) -> bool:
            return http_files.requests == n and clock.next_deadline is not None

        await eventually(retry_pending)
        await clock.advance(60)
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOAD_FAILED
    assert http_files.requests == 3 and http_files.uploads == []
    assert notify.sent == ["Uploading", "UploadFailed"]
    assert notify.triggered == ["Uploading", "Idle"]


async def test_unusable_location_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    notify = Recorder()
    uploader = make(tmp_path, SimClock(), notify)
    with pytest.raises(TransferError, match="unsupported scheme 'sftp'"):
        await uploader.begin("sftp://host/dir/")
    assert notify.sent == []


def test_masked_hides_only_the_password() -> None:
    assert masked("ftp://cp:s3cret@host:21/dir/") == "ftp://cp:***@host:21/dir/"
    assert masked("ftp://cp:s3cret@host:bad/dir/") == "ftp://cp:***@host:bad/dir/"
    assert masked("https://host/x?y=1") == "https://host/x?y=1"
    assert masked("http://user@host/") == "http://user@host/"


async def test_location_without_a_path_gets_a_generated_file_name(
    tmp_path: Path, http_files: HttpFiles, ftp_files: FtpFiles
) -> None:
    """`ftp://host` or `http://host:port` name the server root directory, not a file named like the host."""
    clock, notify = SimClock(), Recorder()
    uploader = make(tmp_path, clock, notify)
    name = await uploader.begin(http_files.url(""))
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOADED
    [(method, path, _, _)] = http_files.uploads
    assert (method, path) == ("PUT", f"/{name}")
    name = await uploader.begin(ftp_files.url(""))
    assert await asyncio.wait_for(uploader.wait(), 10) is DiagnosticsStatus.UPLOADED
    assert (ftp_files.root / name).read_bytes() == (tmp_path / "state/diagnostics" / name).read_bytes()


async def test_the_archive_is_capped_and_says_what_it_left_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("a.log", "b.log", "c.log"):
        (logs / name).write_text("x" * 1000 + "\n")
    uploader = DiagnosticsUploader(SimClock(), tmp_path / "state", [logs], dict, Recorder(),
                                   max_archive_bytes=2500)
    with tarfile.open(await uploader.collect()) as tar:
        names = tar.getnames()
        state = json.loads(tar.extractfile("state.json").read())  # type: ignore[union-attr]
    assert names == ["logs/a.log", "logs/b.log", "state.json"]
    assert state["notes"] == ["logs/c.log left out (1001 bytes): the archive is limited to 2500"]


async def test_an_upload_bigger_than_the_cap_is_refused_before_sending(
    tmp_path: Path, http_files: HttpFiles
) -> None:
    big = tmp_path / "big.tar.gz"
    big.write_bytes(b"z" * 5000)
    with pytest.raises(TransferError, match=r"refused: big\.tar\.gz is 5000 bytes, more than 4096"):
        upload(http_files.url("/up/"), big, 5, max_bytes=4096)
    assert http_files.requests == 0


def test_a_download_bigger_than_the_cap_is_refused_and_leaves_nothing(
    tmp_path: Path, http_files: HttpFiles, ftp_files: FtpFiles
) -> None:
    http_files.files["/fw.bin"] = b"f" * 10_000
    (ftp_files.root / "fw.bin").write_bytes(b"f" * 300_000)  # no length announced: counted as it comes
    spool = tmp_path / "spool"
    spool.mkdir()
    dest = spool / "fw.bin"
    for url in (http_files.url("/fw.bin"), ftp_files.url("/fw.bin")):
        with pytest.raises(TransferError, match="refused: larger than 4096 bytes"):
            download(url, dest, 5, max_bytes=4096)
        assert list(spool.iterdir()) == []
    assert download(http_files.url("/fw.bin"), dest, 5, max_bytes=10_000) == 10_000
