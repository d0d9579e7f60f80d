"""LatestStatus: the newest undelivered status notification of a long job is sent after the outage."""

from __future__ import annotations

import pytest
from ocpp.exceptions import InternalError

from firmware.ocpp.common.latest_status import LatestStatus


class Link:
    def __init__(self) -> None:
        self.up = True
        self.sent: list[tuple[str, int | None]] = []
        self.refuse = False

    async def send(self, status: str, request_id: int | None) -> None:
        if not self.up:
            raise ConnectionError("not registered with the CSMS")
        if self.refuse:
            raise InternalError("no")
        self.sent.append((status, request_id))


async def test_only_the_newest_undelivered_status_is_sent_after_the_outage() -> None:
    link = Link()
    latest = LatestStatus("FirmwareStatusNotification", link.send)
    await latest.notify("Downloading", 3)
    link.up = False
    for status in ("Downloaded", "Installing"):
        with pytest.raises(ConnectionError):
            await latest.notify(status, 3)
    await latest.resend()  # still down: kept
    assert latest.pending == ("Installing", 3)
    link.up = True
    await latest.resend()
    await latest.resend()  # once only
    assert link.sent == [("Downloading", 3), ("Installing", 3)]
    assert latest.pending is None


async def test_a_status_that_went_out_clears_the_kept_one_and_an_error_answer_counts_as_delivered() -> None:
    link = Link()
    latest = LatestStatus("LogStatusNotification", link.send)
    link.up = False
    with pytest.raises(ConnectionError):
        await latest.notify("Uploading", 1)
    link.up = True
    await latest.notify("Uploaded", 1)
    await latest.resend()
    assert link.sent == [("Uploaded", 1)]  # the older one is not sent after the newer
    link.up = False
    with pytest.raises(ConnectionError):
        await latest.notify("Uploading", 2)
    link.up, link.refuse = True, True
    await latest.resend()  # a CALLERROR: the CSMS has it, nothing is kept
    assert latest.pending is None
