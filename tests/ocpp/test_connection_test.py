"""`chargepi ocpp test`: the connection test names the step that fails and what to check."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from firmware.cli.main import main
from firmware.ocpp.conntest import connection_test
from firmware.ocpp.settings import OcppSettings
from firmware.settings import StationSettings
from tests.certificates import make_test_pki
from tools.csms import DevCsms

STATION = StationSettings()
Capture = pytest.CaptureFixture[str]


def ocpp(url: str, **extra: Any) -> OcppSettings:
    return OcppSettings.model_validate({"url": url, "charge_point_id": "CP-T", **extra})


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_every_step_passes_against_a_working_csms() -> None:
    async with DevCsms(log_stream=None, heartbeat_interval=77) as csms:
        steps = await connection_test(ocpp(csms.url), STATION)
        boot = csms.received[-1]
    assert [(s.name, s.ok) for s in steps] == [("dns", True), ("tcp", True), ("upgrade", True),
                                               ("boot", True)]
    assert steps[-1].detail.startswith("BootNotification Accepted, heartbeat interval 77 s")
    assert boot.action == "BootNotification" and boot.payload["chargePointSerialNumber"] == "CP-0001"


async def test_an_unknown_host_fails_at_dns() -> None:
    steps = await connection_test(ocpp("ws://no-such-host.invalid/ocpp"), STATION, step_timeout_s=5)
    assert [(s.name, s.ok) for s in steps] == [("dns", False)]
    assert "cannot resolve 'no-such-host.invalid'" in steps[0].detail
    assert "DNS" in steps[0].fix


async def test_a_closed_port_fails_at_tcp() -> None:
    steps = await connection_test(ocpp(f"ws://127.0.0.1:{unused_port()}/ocpp"), STATION)
    assert [(s.name, s.ok) for s in steps] == [("dns", True), ("tcp", False)]
    assert "firewall" in steps[1].fix


async def test_tls_names_the_certificate_or_why_it_is_not_trusted(tmp_path: Path) -> None:
    ca, cert, key = make_test_pki(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with DevCsms(ssl_context=context, log_stream=None) as csms:
        untrusted = await connection_test(ocpp(csms.url), STATION)
        trusted = await connection_test(ocpp(csms.url, ca_file=str(ca)), STATION)
    assert [(s.name, s.ok) for s in untrusted][-1] == ("tls", False)
    assert "not trusted" in untrusted[-1].detail and "ocpp.ca_file" in untrusted[-1].fix
    tls = next(s for s in trusted if s.name == "tls")
    assert tls.ok and "commonName=127.0.0.1" in tls.detail
    assert "issued by commonName=chargepi test CA" in tls.detail
    assert tls.facts["names"] == ["127.0.0.1"] and tls.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert trusted[-1].name == "boot" and trusted[-1].ok


async def test_wrong_credentials_fail_at_the_upgrade_with_http_401() -> None:
    async with DevCsms(log_stream=None, credentials={"CP-T": "right-password"}) as csms:
        steps = await connection_test(ocpp(csms.url, security_profile=1, authorization_key="wrong-password",
                                           allow_insecure_basic_auth=True), STATION)
    assert (steps[-1].name, steps[-1].ok, steps[-1].facts) == ("upgrade", False, {"http_status": 401})
    assert "ocpp.authorization_key" in steps[-1].fix


async def test_a_rejected_boot_says_to_register_the_charger() -> None:
    async with DevCsms(log_stream=None, boot_status="Rejected") as csms:
        steps = await connection_test(ocpp(csms.url), STATION)
    assert (steps[-1].name, steps[-1].ok) == ("boot", False)
    assert "register it there" in steps[-1].fix


def test_the_command_prints_each_step_and_exits_1_on_a_failure(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n[ocpp]\nurl = "ws://127.0.0.1:{unused_port()}/x"\n'
                      'charge_point_id = "CP-T"\n')
    assert main(["ocpp", "test", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "PASS  dns" in out and "FAIL  tcp" in out and "fix:" in out
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')
    assert main(["ocpp", "test", "--config", str(config)]) == 2
    assert "no [ocpp] section" in capsys.readouterr().err
