"""Registration (Pending/Rejected), reconnect behaviour, security profiles and liveness of the link."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import random
import ssl
import subprocess
from pathlib import Path

import pytest
from ocpp.v16 import call

from firmware.core.vocabulary import StopReason
from firmware.ocpp.common.connection import backoff_delay
from firmware.settings import ConfigError, load_settings
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms


async def test_pending_boot_sends_nothing_else_but_answers_csms(harness: Harness) -> None:
    harness.csms.boot_answers = [("Pending", 40), ("Pending", 40)]
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: adapter.registration == "Pending")
    harness.station.start(1, "T")  # a session while Pending: queued, not sent
    csms_cp = harness.csms.cp
    assert csms_cp is not None
    answer = await csms_cp.call(call.GetConfiguration(key=["NumberOfConnectors"]), suppress=False)
    assert answer.configuration_key[0]["value"] == "2"
    await harness.clock.advance(39)
    await asyncio.sleep(0.05)
    assert harness.csms.actions() == ["BootNotification"]
    await eventually(lambda: len(harness.csms.calls("BootNotification")) == 2, harness.clock, 0.5)
    # The CSMS may trigger the BootNotification instead of waiting for the interval.
    await csms_cp.call(call.TriggerMessage(requested_message="BootNotification"), suppress=False)
    await eventually(lambda: adapter._online.is_set())
    await harness.settle()
    actions = harness.csms.actions()
    assert actions[:3] == ["BootNotification"] * 3
    assert "StartTransaction" in actions


async def test_rejected_boot_retries_after_interval(harness: Harness) -> None:
    harness.csms.boot_answers = [("Rejected", 600)]
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: adapter.registration == "Rejected")
    await harness.clock.advance(599)
    await asyncio.sleep(0.05)
    assert len(harness.csms.calls("BootNotification")) == 1
    await eventually(lambda: adapter._online.is_set(), harness.clock, 0.5)
    assert adapter.status()["registration"] == "Accepted"


async def test_boot_interval_zero_uses_own_retry(harness: Harness) -> None:
    harness.csms.boot_answers = [("Pending", 0)]
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: adapter.registration == "Pending")
    await eventually(lambda: adapter._online.is_set(), harness.clock, 5)
    assert len(harness.csms.calls("BootNotification")) == 2


async def test_no_second_boot_after_reconnect_and_status_resent(harness: Harness) -> None:
    await harness.start()
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 3)
    await harness.csms.kick()
    await eventually(lambda: harness.csms.connections == 2, harness.clock, 1)
    await eventually(lambda: len(harness.csms.calls("StatusNotification")) == 6)
    assert len(harness.csms.calls("BootNotification")) == 1


def test_backoff_is_bounded_with_jitter() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 2.0, 300.0, rng) for n in range(20)]
    assert all(2.0 <= d <= 300.0 for d in delays)
    assert max(delays[:2]) <= 4.0 and max(delays[10:]) > 30
    assert len({round(d, 3) for d in delays}) == len(delays)


async def test_accept_then_close_does_not_storm(tmp_path: Path) -> None:
    """A CSMS that accepts and closes at once: reconnects are spaced by the minimum delay at least."""
    from websockets.asyncio.server import ServerConnection, serve

    accepted: list[float] = []
    harness_clock: list[Harness] = []

    async def slam(ws: ServerConnection) -> None:
        accepted.append(harness_clock[0].clock.monotonic())
        await ws.close()

    async with serve(slam, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        harness = Harness(tmp_path, TestCsms(), port, reconnect_min_s=5.0)
        harness_clock.append(harness)
        adapter = await harness.start(wait_online=False)
        await eventually(lambda: len(accepted) >= 6, harness.clock, 0.5, within=20)
        await adapter.stop()
        harness.adapter = None
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    assert all(gap >= 5.0 for gap in gaps), gaps


async def test_missing_subprotocol_is_refused_and_retried(tmp_path: Path) -> None:
    csms = TestCsms(subprotocol=None)
    port = await csms.start()
    harness = Harness(tmp_path, csms, port)
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: csms.connections >= 2, harness.clock, 0.5)
    assert "subprotocol" in (adapter.link.last_error or "")
    assert csms.calls() == []
    await adapter.stop()
    harness.adapter = None
    await csms.stop()


async def test_basic_auth_profile_1_and_401_keeps_retrying(tmp_path: Path) -> None:
    password = {"value": "wrong-password-1"}
    expected = "Basic " + base64.b64encode(b"CP1:right-password-1").decode()
    csms = TestCsms(check_auth=lambda header: header == expected)
    port = await csms.start()
    harness = Harness(
        tmp_path,
        csms,
        port,
        security_profile=1,
        allow_insecure_basic_auth=True,
        authorization_key=password["value"],
        auth_failure_backoff_s=600.0,
    )
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: adapter.link.last_error == "CSMS answered HTTP 401")
    attempts = len(csms.auth_headers)
    await harness.clock.advance(599)
    await asyncio.sleep(0.05)
    assert len(csms.auth_headers) == attempts  # long backoff after an authentication failure
    assert adapter.config.change("AuthorizationKey", "right-password-1") == "Accepted"
    await eventually(lambda: adapter._online.is_set(), harness.clock, 1)
    assert csms.auth_headers[-1] == expected
    await adapter.stop()
    harness.adapter = None
    await csms.stop()


def _make_ca(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(tmp / "ca.key"),
        "-out",
        str(tmp / "ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(tmp / "srv.key"),
        "-out",
        str(tmp / "srv.csr"),
        "-subj",
        "/CN=127.0.0.1",
    )
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        str(tmp / "srv.csr"),
        "-CA",
        str(tmp / "ca.pem"),
        "-CAkey",
        str(tmp / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(tmp / "srv.pem"),
        "-days",
        "2",
        "-extfile",
        str(tmp / "ext.cnf"),
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "srv.pem", tmp / "srv.key")
    return tmp / "ca.pem", ctx


async def test_tls_profile_2_verifies_server_against_ca(tmp_path: Path) -> None:
    ca, server_ctx = _make_ca(tmp_path)
    csms = TestCsms()
    port = await csms.start(ssl=server_ctx)
    state = tmp_path / "state"
    harness = Harness(
        state,
        csms,
        port,
        url=f"wss://127.0.0.1:{port}/ocpp",
        security_profile=2,
        authorization_key="secret-key-123",
        ca_file=ca,
    )
    await harness.start()
    assert csms.auth_headers[-1] is not None
    await harness.adapter.stop()  # type: ignore[union-attr]
    # Without the CA (system trust store only) the self-signed CSMS is refused, and retried later.
    harness2 = Harness(tmp_path / "state2", csms, port, url=f"wss://127.0.0.1:{port}/ocpp")
    adapter = await harness2.start(wait_online=False)
    await eventually(lambda: "TLS" in (adapter.link.last_error or ""))
    assert adapter.link.state != "connected"
    await adapter.stop()
    harness.adapter = harness2.adapter = None
    await csms.stop()


async def test_dead_link_detected_by_ping(harness: Harness) -> None:
    harness.ocpp_overrides["ping_interval_s"] = 1
    adapter = await harness.start()
    assert harness.csms.cp is not None
    transport = harness.csms.cp.ws.transport
    transport.pause_reading()  # the CSMS side stops answering anything, pongs included
    # 2 x ping interval + 1 s close timeout = 3 s; the rest is slack for a loaded CI machine. Without pings
    # the dead link would never be noticed.
    await eventually(lambda: not adapter.link.connected, within=8)
    transport.resume_reading()


async def test_control_command_disconnect_and_connect(harness: Harness) -> None:
    adapter = await harness.start()
    status = await harness.control.dispatch({"command": "ocpp", "args": {"action": "disconnect"}})
    assert status["ok"] and status["result"]["enabled"] is False
    assert status["result"]["connected"] is False  # the reply comes once the link is down
    harness.station.start(1, "T")
    harness.station.stop_session(1, StopReason.LOCAL)
    assert adapter.status()["transaction_queue_depth"] == 2
    assert harness.csms.connections == 1
    bad = await harness.control.dispatch({"command": "ocpp", "args": {"action": "explode"}})
    assert not bad["ok"] and "connect, disconnect" in bad["error"]
    status = await harness.control.dispatch({"command": "ocpp", "args": {"action": "connect"}})
    assert status["result"]["connected"] is True and status["result"]["registration"] == "Accepted", status
    await harness.settle()
    assert adapter.status()["queue_depth"] == 0 and len(harness.csms.calls("StopTransaction")) == 1


def test_config_file_section_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[ocpp]\nurl = "wss://csms.example.com/ocpp"\ncharge_point_id = "CP-7"\nsecurity_profile = 2\n'
        'authorization_key = "0123456789abcdef"\n[ocpp.configuration]\nHeartbeatInterval = 120\n'
        'MeterValuesSampledData = "Energy.Active.Import.Register,Voltage"\n'
    )
    settings = load_settings(path)
    assert settings.ocpp is not None and settings.ocpp.endpoint == "wss://csms.example.com/ocpp/CP-7"
    assert load_settings(None).ocpp is None
    for bad, fragment in [
        ('HeartbeatInterval = "often"', "HeartbeatInterval"),
        ("NoSuchKey = 1", "NoSuchKey"),
        ("NumberOfConnectors = 4", "read-only"),
        ('MeterValuesSampledData = "SoC"', "comma-separated list"),
    ]:
        path.write_text(
            '[ocpp]\nurl = "ws://h/ocpp"\ncharge_point_id = "CP"\n[ocpp.configuration]\n' + bad + "\n"
        )
        with pytest.raises(ConfigError, match=fragment):
            load_settings(path)
    path.write_text(
        '[ocpp]\nurl = "ws://h/ocpp"\ncharge_point_id = "CP"\nsecurity_profile = 2\n'
        'authorization_key = "0123456789abcdef"\n'
    )
    with pytest.raises(ConfigError, match="wss://"):
        load_settings(path)


def test_cli_ocpp_command_talks_to_the_control_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from firmware.cli import main as cli

    sent: list[tuple[str, dict[str, object]]] = []

    def fake_control(args: object, command: str, **kw: object) -> dict[str, object]:
        sent.append((command, kw))
        return {"enabled": False, "state": "disabled", "url": "ws://x/CP", "queue_depth": 3}

    monkeypatch.setattr("firmware.cli.ocpp_cmd.control", fake_control)
    assert cli.main(["ocpp", "disconnect"]) == 0
    assert sent == [("ocpp", {"action": "disconnect"})]
    out = capsys.readouterr().out
    assert "disabled" in out and "3 message(s) queued" in out
    with pytest.raises(SystemExit):
        cli.main(["ocpp", "reboot"])


def test_example_config_loads() -> None:
    settings = load_settings(Path(__file__).parents[2] / "config" / "ocpp.example.toml")
    assert settings.ocpp is not None and settings.ocpp.security_profile == 2
    assert settings.ocpp.configuration["HeartbeatInterval"] == 300


async def test_csms_changes_the_basic_auth_password(tmp_path: Path) -> None:
    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"CP1:{password}".encode()).decode()

    allowed = {basic("first-password-1"), basic("second-password-2")}
    csms = TestCsms(check_auth=lambda header: header in allowed)
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, security_profile=1, authorization_key="first-password-1",
                      allow_insecure_basic_auth=True)
    adapter = await harness.start()
    assert csms.cp is not None
    listed = await csms.cp.call(call.GetConfiguration(key=["AuthorizationKey"]), suppress=False)
    assert listed.configuration_key == [{"key": "AuthorizationKey", "readonly": False}]  # never shown
    bad = await csms.cp.call(call.ChangeConfiguration(key="AuthorizationKey", value="short"), suppress=False)
    assert bad.status == "Rejected"
    ok = await csms.cp.call(
        call.ChangeConfiguration(key="AuthorizationKey", value="second-password-2"), suppress=False
    )
    assert ok.status == "Accepted"
    await eventually(lambda: csms.connections == 2 and adapter._online.is_set(), harness.clock, 0.1)
    assert csms.auth_headers[-1] == basic("second-password-2")
    await adapter.stop()
    again = harness.build()  # the new password survives a restart
    assert again.config.get("AuthorizationKey") == "second-password-2"
    assert oct((tmp_path / "ocpp.sqlite3").stat().st_mode & 0o777) == "0o600"
    harness.adapter = None
    await csms.stop()



async def test_disconnect_with_a_call_in_flight_is_a_lost_connection_not_an_internal_error(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    import gc

    adapter = await harness.start()
    csms_cp = harness.csms.cp
    assert csms_cp is not None
    harness.csms.silence["Heartbeat"] = 1  # the triggered CALL is in flight when the link goes down
    await csms_cp.call(call.TriggerMessage(requested_message="Heartbeat"), suppress=False)
    await eventually(lambda: bool(harness.csms.calls("Heartbeat")))
    status = await harness.control.dispatch({"command": "ocpp", "args": {"action": "disconnect"}})
    assert status["ok"] and status["result"]["connected"] is False
    for _ in range(5):
        await asyncio.sleep(0.01)
        gc.collect()  # a task whose exception nobody retrieved is reported when it is collected
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
                or "never retrieved" in r.getMessage() or "InvalidState" in r.getMessage()]
    assert problems == []
    assert any("triggered Heartbeat failed: connection lost" in r.getMessage() for r in caplog.records)
    await harness.control.dispatch({"command": "ocpp", "args": {"action": "connect"}})
    await eventually(lambda: adapter.link.connected, harness.clock, 0.5)
