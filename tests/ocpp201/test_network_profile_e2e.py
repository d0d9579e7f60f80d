"""Network connection profiles on a whole 2.0.1 charger against real websocket CSMSs: SetNetworkProfile's
answers (B09), migration to another CSMS through a stored slot in NetworkConfigurationPriority order with
fallback after NetworkProfileConnectionAttempts (B10), and the security profile upgrade 1 -> 2 that holds
only once the new connection works (A05)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from hal.clock import SimClock
from tests.conftest import Harness, HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import Csms, CsmsSide, running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_certificates_e2e import DAYS  # valid on the charger's (2030) and the real clock
from tests.ocpp201.test_reset_e2e import restarting
from tests.security.pki import make_ca, server_context

PASSWORD = "0123456789abcdef"


def peer(csms: Csms) -> CsmsSide:
    assert csms.peer is not None
    return csms.peer


def profile(url: str, security_profile: int, **extra: Any) -> dict[str, Any]:
    return {"ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": url, "message_timeout": 30,
            "security_profile": security_profile, "ocpp_interface": "Wired0", **extra}


async def set_network_profile(csms: Csms, slot: int, data: dict[str, Any]) -> tuple[str, str | None]:
    answer = await peer(csms).call(call.SetNetworkProfile(configuration_slot=slot, connection_data=data),
                                   suppress=False)
    return str(answer.status), (answer.status_info or {}).get("reason_code")


async def set_variable(csms: Csms, component: str, variable: str, value: str) -> str:
    answer = await peer(csms).call(call.SetVariables(set_variable_data=[{
        "component": {"name": component}, "variable": {"name": variable}, "attribute_value": value}]),
        suppress=False)
    return str(answer.set_variable_result[0]["attribute_status"])


async def get_variable(csms: Csms, component: str, variable: str) -> str:
    answer = await peer(csms).call(call.GetVariables(get_variable_data=[{
        "component": {"name": component}, "variable": {"name": variable}}]), suppress=False)
    return str(answer.get_variable_result[0]["attribute_value"])


async def install_root(csms: Csms, pem: str) -> None:
    answer = await peer(csms).call(call.InstallCertificate(certificate_type="CSMSRootCertificate",
                                                           certificate=pem), suppress=False)
    assert answer.status == "Accepted"


async def reset(csms: Csms) -> None:
    answer = await peer(csms).call(call.Reset(type="OnIdle"), suppress=False)
    assert answer.status == "Accepted"


async def reboot_into(csms: Csms, priority: str, attempts: int | None = None) -> None:
    """Set NetworkConfigurationPriority (and NetworkProfileConnectionAttempts), then Reset (B10)."""
    if attempts is not None:
        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkProfileConnectionAttempts",
                                  str(attempts)) == "Accepted"
    assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", priority) == \
        "RebootRequired"
    await reset(csms)


@contextlib.asynccontextmanager
async def refusing_csms() -> AsyncIterator[tuple[str, list[str]]]:
    """A CSMS that answers every websocket handshake with HTTP 503; the paths it was asked for."""
    paths: list[str] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        paths.append(request.path)
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down for maintenance\n")

    async def never(ws: ServerConnection) -> None:
        return None

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", paths


async def start(make_harness: HarnessFactory, state_dir: Path, ocpp: dict[str, Any],
                clock: SimClock | None = None) -> Harness:
    h: Harness = await make_harness(ocpp=ocpp, state_dir=state_dir, clock=clock)
    return h


async def restart(make_harness: HarnessFactory, h: Harness, state_dir: Path, ocpp: dict[str, Any]) -> Harness:
    await eventually(lambda: restarting(h), h.clock, 0.5, within=20)
    await h.app.stop()
    return await start(make_harness, state_dir, ocpp, SimClock(h.clock.now()))


def basic_auth(url: str, **extra: Any) -> dict[str, Any]:
    """The [ocpp] section of a profile-1 station (Basic auth over ws:// allowed for the test CSMS)."""
    return {**section(url), "security_profile": 1, "authorization_key": PASSWORD,
            "allow_insecure_basic_auth": True, **extra}


async def test_set_network_profile_answers(make_harness: HarnessFactory, short_dir: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_csms() as csms:
        h = await start(make_harness, short_dir, basic_auth(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        other = "ws://other.example/ocpp"
        assert await set_network_profile(csms, 4, profile(other, 1)) == ("Rejected", "InvalidConfSlot")
        assert await set_network_profile(csms, 1, profile(other, 1)) == ("Rejected", "InvalidConfSlot")
        assert await set_network_profile(csms, 2, {**profile(other, 1), "ocpp_version": "OCPP16"}) == \
            ("Rejected", "InvalidNetworkConf")
        vpn = {"server": "vpn.example", "user": "u", "password": "s3cret-vpn", "key": "k", "type": "IPSec"}
        assert await set_network_profile(csms, 2, profile(other, 1, vpn=vpn)) == \
            ("Rejected", "InvalidNetworkConf")
        assert await set_network_profile(csms, 2, profile(other, 2)) == ("Rejected", "InvalidNetworkConf")
        assert await set_network_profile(csms, 2, profile(other, 0)) == ("Rejected", "NoSecurityDowngrade")
        # A05.FR.02: profile 2 without a CSMS root certificate to check the server with.
        assert await set_network_profile(csms, 2, profile("wss://other.example/ocpp", 2)) == \
            ("Rejected", "InvalidNetworkConf")
        assert "s3cret-vpn" not in caplog.text

        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1") == "Rejected"
        assert await set_network_profile(csms, 2, profile(other, 1)) == ("Accepted", None)
        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "3,1") == "Rejected"
        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1") == \
            "RebootRequired"
        assert await get_variable(csms, "OCPPCommCtrlr", "ActiveNetworkProfile") == "1"
        assert len(csms.boots) == 1  # nothing changes before the reboot


async def test_migrates_through_the_priority_list_and_falls_back_after_the_attempts(
        make_harness: HarnessFactory, short_dir: Path) -> None:
    async with running_csms() as first, running_csms() as second, refusing_csms() as (down, asked):
        ocpp = basic_auth(first.url)
        h = await start(make_harness, short_dir, ocpp)
        await eventually(lambda: len(first.statuses) == 1, h.clock, 0.1, within=15)
        assert await set_network_profile(first, 2, profile(second.url + "/ocpp", 1)) == ("Accepted", None)
        assert await set_network_profile(first, 3, profile(down, 1)) == ("Accepted", None)
        await reboot_into(first, "3,2,1", attempts=2)

        # After the reboot: slot 3 twice (refused), then slot 2, the second CSMS, boots anew (B10.FR.10).
        h = await restart(make_harness, h, short_dir, ocpp)
        await eventually(lambda: len(second.statuses) == 1, h.clock, 0.1, within=30)
        assert asked == ["/CP-1", "/CP-1"]  # the station identity is appended to the stored URL
        assert [b["reason"] for b in second.boots] == ["RemoteReset"]
        assert await get_variable(second, "OCPPCommCtrlr", "ActiveNetworkProfile") == "2"
        assert h.station.snapshot()["ocpp"]["url"] == second.url + "/ocpp/CP-1"

        # A lost connection starts over with the first entry (B10.FR.03), then comes back to slot 2.
        await peer(second).ws.close()
        await eventually(lambda: len(second.boots) == 2, h.clock, 0.1, within=30)
        assert len(asked) == 4
        assert len(first.boots) == 1  # slot 1 was not needed

        # NetworkConfigurationPriority survives the reboot; with slot 2 gone as well, slot 1 is the fallback.
        await reboot_into(second, "3,1")
        h = await restart(make_harness, h, short_dir, ocpp)
        await eventually(lambda: len(first.boots) == 2, h.clock, 0.1, within=30)
        assert len(asked) == 6
        assert await get_variable(first, "OCPPCommCtrlr", "ActiveNetworkProfile") == "1"
        await h.app.stop()


async def test_security_profile_upgrade_through_a_network_profile(make_harness: HarnessFactory,
                                                                  short_dir: Path, tmp_path: Path) -> None:
    operator = make_ca("operator", days=DAYS)
    async with running_csms() as plain, running_csms(server_context(tmp_path, operator)) as tls:
        ocpp = basic_auth(plain.url)
        h = await start(make_harness, short_dir, ocpp)
        await eventually(lambda: len(plain.statuses) == 1, h.clock, 0.1, within=15)
        await install_root(plain, operator.pem)  # A05.FR.02: the root that checks the new CSMS
        assert await set_network_profile(plain, 3, profile(tls.url, 2)) == ("Accepted", None)
        await reboot_into(plain, "3,1")

        h = await restart(make_harness, h, short_dir, ocpp)
        await eventually(lambda: len(tls.statuses) == 1, h.clock, 0.1, within=30)
        # A05.FR.05/06: on success the profile is raised and the lower one (slot 1) is gone.
        upgrades = [e for e in h.app.security_log.since(0) if e.type == "ReconfigurationOfSecurityParameters"
                    and "SecurityProfile 1 -> 2" in (e.tech_info or "")]
        assert upgrades  # in the security log (not a critical event: not sent)
        assert await get_variable(tls, "SecurityCtrlr", "SecurityProfile") == "2"
        assert await get_variable(tls, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "3"
        assert await set_network_profile(tls, 2, profile(plain.url, 1)) == ("Rejected", "NoSecurityDowngrade")
        assert await set_variable(tls, "OCPPCommCtrlr", "NetworkConfigurationPriority", "3,1") == "Rejected"

        # It holds across a restart (nothing in the [ocpp] section changed).
        await h.app.stop()
        h = await start(make_harness, short_dir, ocpp, SimClock(h.clock.now()))
        await eventually(lambda: len(tls.boots) == 2, h.clock, 0.1, within=30)
        assert len(plain.boots) == 1
        await h.app.stop()

        # A technician who edits the [ocpp] section brings slot 1 back, first, with its profile.
        h = await start(make_harness, short_dir, {**ocpp, "url": plain.url + "/"}, SimClock(h.clock.now()))
        await eventually(lambda: len(plain.boots) == 2, h.clock, 0.1, within=30)
        assert await get_variable(plain, "SecurityCtrlr", "SecurityProfile") == "1"
        await h.app.stop()


async def test_a_failed_upgrade_falls_back_and_keeps_the_profile(make_harness: HarnessFactory,
                                                                 short_dir: Path, tmp_path: Path) -> None:
    operator, stranger = make_ca("operator", days=DAYS), make_ca("stranger", days=DAYS)
    async with running_csms() as plain, running_csms(server_context(tmp_path, stranger)) as untrusted:
        ocpp = basic_auth(plain.url)
        h = await start(make_harness, short_dir, ocpp)
        await eventually(lambda: len(plain.statuses) == 1, h.clock, 0.1, within=15)
        await install_root(plain, operator.pem)
        assert await set_network_profile(plain, 2, profile(untrusted.url, 2)) == ("Accepted", None)
        await reboot_into(plain, "2,1", attempts=1)

        h = await restart(make_harness, h, short_dir, ocpp)
        await eventually(lambda: len(plain.boots) == 2, h.clock, 0.1, within=30)
        assert untrusted.boots == []
        assert await get_variable(plain, "SecurityCtrlr", "SecurityProfile") == "1"
        assert await get_variable(plain, "OCPPCommCtrlr", "ActiveNetworkProfile") == "1"
        await eventually(lambda: any(e["type"] == "InvalidCsmsCertificate"
                                     for e in plain.of("SecurityEventNotification")), h.clock, 0.1, within=15)
        await h.app.stop()
