"""The real charger (Application on the fake HAL with its OCPP adapter) against the strict ocpp-rpc CSMS:
security profile 2 (TLS from node's own stack, server certificate checked against our CA, Basic auth
inside) and BootNotification gating when the CSMS answers Pending or Rejected.

The charger runs on simulated time; the network and the CSMS run in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.certificates import make_test_pki
from tests.conftest import Harness, HarnessFactory
from tests.interop.harness import InteropCsms, run_interop_csms

CP = "CP-IOP-SEC"
PASSWORD = "correct-horse-battery"


async def drive(h: Harness, condition: Callable[[], bool], step: float = 0.5, within: float = 20.0) -> None:
    """Advance the charger's simulated time in steps, letting real I/O happen, until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await h.clock.advance(step)
        await asyncio.sleep(0.005)


async def charger(make_harness: HarnessFactory, csms: InteropCsms, **ocpp: Any) -> Harness:
    section = {"url": csms.url, "charge_point_id": CP, "ping_interval_s": 0, "reconnect_min_s": 1.0, **ocpp}
    harness: Harness = await make_harness(ocpp=section)
    return harness


def clean(csms: InteropCsms) -> None:
    assert csms.validation_failures == []
    assert csms.call_errors_sent == []


async def test_security_profile_2_tls_and_basic_auth(make_harness: HarnessFactory, tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    async with run_interop_csms(*tls, "--password", f"{CP}={PASSWORD}") as csms:
        assert csms.url.startswith("wss://")
        h = await charger(
            make_harness, csms, security_profile=2, authorization_key=PASSWORD, ca_file=str(pki.ca)
        )
        await drive(h, lambda: len(csms.calls("StatusNotification", cp=CP)) >= 2)
        h.sim.swipe("TAG-TLS")
        await drive(h, lambda: bool(csms.calls("Authorize", cp=CP)))
        assert [m["cp"] for m in csms.messages if m["event"] == "connect"] == [CP]
        clean(csms)


async def test_tls_server_not_signed_by_our_ca_is_never_trusted(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    ours = make_test_pki(tmp_path / "ours")
    theirs = make_test_pki(tmp_path / "theirs")
    async with run_interop_csms("--tls-cert", str(theirs.cert), "--tls-key", str(theirs.key)) as csms:
        h = await charger(
            make_harness, csms, security_profile=2, authorization_key=PASSWORD, ca_file=str(ours.ca)
        )
        for _ in range(40):
            await h.clock.advance(1.0)
            await asyncio.sleep(0.005)
        assert csms.calls() == []  # the handshake failed on our side: not a single frame was sent
        status = h.station.snapshot()["ocpp"]
        assert not status["connected"]
        assert "certificate verify failed" in str(status["last_error"]).lower()


@pytest.mark.parametrize("boot_status", ["Pending", "Rejected"])
async def test_boot_not_accepted_sends_nothing_else_and_retries_per_interval(
    make_harness: HarnessFactory, boot_status: str
) -> None:
    async with run_interop_csms("--boot-status", boot_status, "--heartbeat-interval", "30") as csms:
        h = await charger(make_harness, csms)
        await drive(h, lambda: bool(csms.calls("BootNotification")))
        h.sim.swipe("TAG-1")
        h.sim.plug()
        for _ in range(29):
            await h.clock.advance(1.0)
            await asyncio.sleep(0.005)
        assert len(csms.calls("BootNotification")) == 1  # the next one only after `interval` (30 s)
        await drive(h, lambda: len(csms.calls("BootNotification")) == 3, step=1.0)
        assert {action for action, _ in csms.calls()} == {"BootNotification"}
        clean(csms)
