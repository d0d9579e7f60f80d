"""GetLog (N01) of a whole 2.0.1 charger against the v201 test CSMS, uploading to a real HTTP server on
127.0.0.1: the security log for a time window and the diagnostics archive, LogStatusNotification with the
requestId through Uploading to Uploaded / UploadFailure / PermissionDenied, retries, Rejected,
AcceptedCanceled, and TriggerMessage LogStatusNotification."""

from __future__ import annotations

import gzip
import io
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from ocpp.v201 import call

from firmware.ocpp.common.timefmt import rfc3339
from firmware.security.events import SecurityEventType
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_certificates_e2e import DAYS
from tests.ocpp201.test_transactions_e2e import adapter
from tests.ocpp_transfers.conftest import HttpFiles, _serve_http, http_files  # noqa: F401  (fixture)
from tests.security.pki import make_ca, server_context


def statuses(csms: Csms) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("request_id")) for p in csms.of("LogStatusNotification")]


async def charger(make_harness: HarnessFactory, csms: Csms) -> Harness:
    h: Harness = await make_harness(ocpp=section(csms.url))
    await eventually(lambda: len(csms.statuses) >= 1, h.clock, 0.1, within=15)
    return h


async def get_log(csms: Csms, request_id: int, location: str, log_type: str = "DiagnosticsLog",
                  **extra: Any) -> Any:
    assert csms.peer is not None
    window: dict[str, str] = {k: extra.pop(k) for k in ("oldest_timestamp", "latest_timestamp") if k in extra}
    return await csms.peer.call(call.GetLog(log={"remote_location": location, **window}, log_type=log_type,
                                            request_id=request_id, **extra), suppress=False)


async def trigger(csms: Csms) -> None:
    assert csms.peer is not None
    answer = await csms.peer.call(call.TriggerMessage(requested_message="LogStatusNotification"),
                                  suppress=False)
    assert answer.status == "Accepted"


async def test_security_log_of_a_window_is_uploaded(make_harness: HarnessFactory,
                                                    http_files: HttpFiles) -> None:  # noqa: F811
    async with running_csms() as csms:
        csms.boot_answers = [("Accepted", 86400)]  # no Heartbeat (it sets the clock) during the test
        h = await charger(make_harness, csms)
        log = h.app.security_log
        log.record(SecurityEventType.INVALID_MESSAGES, "before the window")
        await h.advance(3600)
        start = h.clock.now()
        log.record(SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS, "inside the window")
        await h.advance(3600)
        end = h.clock.now()
        await h.advance(3600)
        log.record(SecurityEventType.INVALID_MESSAGES, "after the window")
        answer = await get_log(csms, 11, http_files.url("/logs/"), "SecurityLog",
                               oldest_timestamp=rfc3339(start - timedelta(seconds=1)),
                               latest_timestamp=rfc3339(end))
        assert answer.status == "Accepted" and answer.filename.startswith("securitylog-CP-1-")
        await eventually(lambda: statuses(csms)[-1:] == [("Uploaded", 11)], h.clock, 0.1, within=15)
        assert statuses(csms) == [("Uploading", 11), ("Uploaded", 11)]  # N01.FR.07/08
        method, path, _, body = http_files.uploads[0]
        assert (method, path) == ("PUT", "/logs/" + answer.filename)
        text = gzip.decompress(body).decode()
        assert "inside the window" in text and "before the window" not in text and "after" not in text
        await trigger(csms)  # nothing uploads: Idle, without requestId (F06.FR.15)
        await eventually(lambda: statuses(csms)[-1] == ("Idle", None), h.clock, 0.1, within=15)


async def test_diagnostics_log_and_its_failures(make_harness: HarnessFactory,
                                                http_files: HttpFiles) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        answer = await get_log(csms, 1, http_files.url("/diag/"))
        assert answer.status == "Accepted" and answer.filename.endswith(".tar.gz")
        await eventually(lambda: ("Uploaded", 1) in statuses(csms), h.clock, 0.1, within=15)
        with tarfile.open(fileobj=io.BytesIO(http_files.uploads[0][3])) as archive:
            assert "state.json" in archive.getnames()

        http_files.fail_next, http_files.fail_status = 10, 503
        before = http_files.requests
        assert (await get_log(csms, 2, http_files.url("/diag/"), retries=1, retry_interval=30)).status == \
            "Accepted"
        await eventually(lambda: statuses(csms)[-1] == ("UploadFailure", 2), h.clock, 1.0, within=15)
        assert http_files.requests - before == 2  # 1 + retries attempts
        assert statuses(csms)[-2:] == [("Uploading", 2), ("UploadFailure", 2)]

        http_files.fail_next, http_files.fail_status = 1, 403
        assert (await get_log(csms, 3, http_files.url("/diag/"))).status == "Accepted"
        await eventually(lambda: statuses(csms)[-1] == ("PermissionDenied", 3), h.clock, 0.1, within=15)

        refused = await get_log(csms, 4, "mailto:logs@example.com")
        assert refused.status == "Rejected" and refused.filename is None
        await h.advance(5)
        assert [r for _, r in statuses(csms)].count(4) == 0


async def test_a_new_request_cancels_the_running_upload(make_harness: HarnessFactory,
                                                        http_files: HttpFiles) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        http_files.fail_next = 1  # the first attempt fails; the next waits for retryInterval
        assert (await get_log(csms, 5, http_files.url("/a/"), retries=3, retry_interval=600)).status == \
            "Accepted"
        await eventually(lambda: http_files.requests == 1, h.clock, 0.1, within=15)
        await h.advance(1)
        await trigger(csms)  # an upload runs: Uploading with its requestId (F06.FR.14)
        await eventually(lambda: statuses(csms)[-1] == ("Uploading", 5), h.clock, 0.1, within=15)
        assert statuses(csms) == [("Uploading", 5), ("Uploading", 5)]
        second = await get_log(csms, 6, http_files.url("/b/"), "SecurityLog")
        assert second.status == "AcceptedCanceled"  # N01.FR.12
        await eventually(lambda: statuses(csms)[-1] == ("Uploaded", 6), h.clock, 0.1, within=15)
        await h.advance(3600)
        assert [r for _, r in statuses(csms)].count(5) == 2  # the first one reports nothing more
        assert [p for _, p, _, _ in http_files.uploads] == ["/b/" + second.filename]


async def test_the_outcome_of_an_upload_during_an_outage_is_sent_after_it(make_harness: HarnessFactory,
                                                                          http_files: HttpFiles) -> None:  # noqa: F811
    async with running_csms() as csms:
        h = await charger(make_harness, csms)
        http_files.fail_next = 1  # the first attempt fails; the retry runs while the link is down
        answer = await get_log(csms, 7, http_files.url("/logs/"), retries=1, retry_interval=60)
        assert answer.status == "Accepted"
        await eventually(lambda: http_files.requests == 1 and statuses(csms) == [("Uploading", 7)], h.clock,
                         0.1, within=15)
        link = adapter(h).link
        await link.disable()
        await h.advance(61)
        await eventually(lambda: len(http_files.uploads) == 1, h.clock, 0.1, within=15)
        await h.advance(5)
        assert statuses(csms) == [("Uploading", 7)]  # Uploaded could not be sent
        link.enable()
        await eventually(lambda: statuses(csms)[-1:] == [("Uploaded", 7)], h.clock, 0.1, within=15)
        assert statuses(csms) == [("Uploading", 7), ("Uploaded", 7)]


async def test_an_https_upload_trusts_the_installed_csms_root(make_harness: HarnessFactory,
                                                              tmp_path: Path) -> None:
    operator = make_ca("operator", days=DAYS)  # valid on the charger's clock (2030) and the real one
    for files in _serve_http(server_context(tmp_path, operator)):
        async with running_csms() as csms:
            h = await charger(make_harness, csms)
            answer = await get_log(csms, 21, files.url("/logs/"))
            assert answer.status == "Accepted"
            await eventually(lambda: statuses(csms)[-1:] == [("UploadFailure", 21)], h.clock, 0.1, within=15)
            assert files.uploads == []  # an unknown CA: nothing sent

            assert csms.peer is not None
            installed = await csms.peer.call(call.InstallCertificate(
                certificate_type="CSMSRootCertificate", certificate=operator.pem), suppress=False)
            assert installed.status == "Accepted"
            await get_log(csms, 22, files.url("/logs/"))
            await eventually(lambda: statuses(csms)[-1:] == [("Uploaded", 22)], h.clock, 0.1, within=15)
            assert len(files.uploads) == 1  # N01.FR.15: the CSMS's CA chain is trusted
