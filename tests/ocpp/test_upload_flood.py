"""A GetDiagnostics / GetLog flood towards an upload server that never answers: the charger runs one
upload of each kind at a time (a new request replaces the running one: GetLog answers AcceptedCanceled),
keeps a bounded number of archives, and its memory comes back to where it was (the real process)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_trigger_flood import rss_mib


class HangingServer:
    """Accepts TCP connections and never answers: every upload waits for its timeout."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.sock.getsockname()[1]
        self.open = 0
        self.most = 0  # the most connections open at once
        self.total = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.total += 1
                self.most = max(self.most, self.open)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


FLOOD = 40


async def test_a_get_diagnostics_and_get_log_flood_runs_one_upload_of_each_at_a_time(
    harness: Harness, hanging: HangingServer
) -> None:
    harness.ocpp_overrides["diagnostics"] = {"upload_timeout_s": 1.0, "journal_units": []}
    await harness.start()
    cp = harness.csms.cp
    assert cp is not None
    names = set()
    for n in range(FLOOD):
        answer = await cp.call(call.GetDiagnostics(location=hanging.url("/diag/")), suppress=False)
        assert answer.file_name
        names.add(answer.file_name)
        log = await cp.call(call.GetLog(log_type="SecurityLog", request_id=n,
                                        log={"remoteLocation": hanging.url("/logs/")}), suppress=False)
        assert log.status == ("Accepted" if n == 0 else "AcceptedCanceled")
        await asyncio.sleep(0.01)  # real time: the uploads are real I/O in threads
    # The last request of each kind ends (after its timeout); no replaced one is still waiting to run.
    await eventually(lambda: harness.csms.calls("LogStatusNotification")[-1:] == [
        {"status": "UploadFailure", "requestId": FLOOD - 1}], within=30)
    await eventually(lambda: [c["status"] for c in harness.csms.calls("DiagnosticsStatusNotification")][-1:]
                     == ["UploadFailed"], within=30)
    await eventually(lambda: hanging.open == 0, within=10)
    assert hanging.most <= 2, f"{hanging.most} uploads at once"
    final = len(harness.csms.calls("LogStatusNotification")), hanging.total
    await asyncio.sleep(1.5)
    assert (len(harness.csms.calls("LogStatusNotification")), hanging.total) == final  # nothing queued
    archives = list((harness.tmp / "diagnostics").iterdir())
    assert len(archives) <= 6, sorted(a.name for a in archives)  # the newest few of each kind


async def test_memory_after_an_upload_flood_returns_to_where_it_was(
    tmp_path: Path, hanging: HangingServer
) -> None:
    csms = TestCsms()
    port = await csms.start()
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\nlog_level = "WARNING"\n'
                      f'[ocpp]\nurl = "ws://127.0.0.1:{port}/ocpp"\ncharge_point_id = "CP-FLOOD"\n'
                      "ping_interval_s = 0\n"
                      "[ocpp.diagnostics]\nupload_timeout_s = 1.0\njournal_units = []\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=dict(os.environ))
    sent = 0

    async def flood(rounds: int = 400) -> None:
        nonlocal sent
        for _ in range(rounds):
            await csms.send_raw(json.dumps([2, f"d{sent}", "GetDiagnostics",
                                            {"location": hanging.url("/diag/")}]))
            await csms.send_raw(json.dumps([2, f"l{sent}", "GetLog", {
                "logType": "SecurityLog", "requestId": sent, "log": {"remoteLocation": hanging.url("/l/")}}]))
            sent += 1
        last = sent - 1
        await eventually(lambda: csms.answers(f"d{last}") != [] and csms.answers(f"l{last}") != [],
                         within=120)
        await asyncio.sleep(3)  # the last uploads time out

    try:
        await eventually(lambda: csms.cp is not None and "StatusNotification" in csms.actions(), within=60)
        await flood()  # warm-up: caches fill once
        before = rss_mib(process.pid)
        for _ in range(2):
            await flood()
        after = rss_mib(process.pid)
        print(f"upload flood: RSS {before:.1f} MiB before, {after:.1f} MiB after, {hanging.most} at once, "
              f"{hanging.total} uploads for {sent} GetDiagnostics + {sent} GetLog")
        assert process.returncode is None
        assert after - before < 5.0, f"RSS {before:.1f} MiB before, {after:.1f} MiB after the flood"
        assert hanging.most <= 2, f"{hanging.most} uploads at once"
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await csms.stop()
