"""OCPP 1.6 conformance against a real websocket CSMS: what the specification says, message by message."""

from __future__ import annotations

import itertools
import ssl
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call

from firmware.core.vocabulary import ConnectorState, StopReason
from tests.certificates import make_test_pki
from tests.ocpp.conftest import Harness, eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_csms_requests import ask


async def test_remote_start_is_rejected_while_the_boot_is_pending(harness: Harness) -> None:
    """OCPP 1.6 §4.2.1: until the CSMS accepted the BootNotification the charger starts nothing."""
    harness.csms.boot_answers = [("Pending", 30)]
    adapter = await harness.start(wait_online=False)
    await eventually(lambda: adapter.registration == "Pending" and harness.csms.cp is not None)
    answer = await ask(harness, call.RemoteStartTransaction(id_tag="R1", connector_id=1))
    assert answer.status == "Rejected"
    await eventually(lambda: adapter._online.is_set(), harness.clock, 1.0)
    assert harness.station.remote_starts == [] and harness.station.session_of(1) is None
    assert (await ask(harness, call.RemoteStartTransaction(id_tag="R1", connector_id=1))).status == "Accepted"
    await eventually(lambda: harness.station.session_of(1) is not None)


async def test_remote_stop_finds_the_running_transaction_when_the_csms_reused_an_id(
    harness: Harness,
) -> None:
    harness.csms.tx_ids = itertools.repeat(7)  # e.g. a CSMS that was reset
    await harness.start()
    harness.station.start(1, "OLD")
    await harness.settle()
    harness.station.stop_session(1, StopReason.LOCAL)
    await harness.settle()
    harness.station.start(1, "NEW")
    await harness.settle()
    assert (await ask(harness, call.RemoteStopTransaction(transaction_id=7))).status == "Accepted"
    assert harness.station.session_of(1) is None
    await harness.settle()
    assert [s["reason"] for s in harness.csms.calls("StopTransaction")] == ["Local", "Remote"]


async def test_local_list_version_is_zero_after_a_full_update_with_an_empty_list(harness: Harness) -> None:
    """OCPP 1.6 §5.10: version 0 means the local authorization list is empty."""
    await harness.start()
    entries = [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]
    full = call.SendLocalList(list_version=5, update_type="Full", local_authorization_list=entries)
    assert (await ask(harness, full)).status == "Accepted"
    assert (await ask(harness, call.GetLocalListVersion())).list_version == 5
    empty = call.SendLocalList(list_version=6, update_type="Full", local_authorization_list=[])
    assert (await ask(harness, empty)).status == "Accepted"
    assert (await ask(harness, call.GetLocalListVersion())).list_version == 0


async def test_connection_timeout_is_read_write(harness: Harness) -> None:
    """OCPP 1.6 §9.1.6 ConnectionTimeOut: RW; the core's plug wait follows it."""
    await harness.start()
    conf = await ask(harness, call.GetConfiguration(key=["ConnectionTimeOut"]))
    assert conf.configuration_key == [{"key": "ConnectionTimeOut", "readonly": False, "value": "60"}]
    answer = await ask(harness, call.ChangeConfiguration(key="ConnectionTimeOut", value="25"))
    assert answer.status == "Accepted"
    assert harness.station.connection_timeout_s == 25
    answer = await ask(harness, call.ChangeConfiguration(key="ConnectionTimeOut", value="0"))
    assert answer.status == "Rejected"


async def test_a_retried_call_gets_a_new_message_id_on_the_same_connection(
    tmp_path: Path, csms: TestCsms
) -> None:
    """OCPP-J 1.6 §4.1.4: a message id is never used twice for a CALL on one websocket connection."""
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, response_timeout_s=0.3)
    adapter = await harness.start()
    try:
        adapter.config.change("TransactionMessageRetryInterval", "5")
        csms.silence["StartTransaction"] = 1
        harness.station.start(1, "T")
        await eventually(lambda: len(csms.calls("StartTransaction")) == 2, harness.clock, 1.0)
        await harness.settle()
        ids = [f[1] for f in csms.frames if f[0] == 2 and f[2] == "StartTransaction"]
        assert csms.connections == 1 and len(set(ids)) == 2
        assert csms.retransmissions == []
    finally:
        await adapter.stop()
        harness.adapter = None


async def test_feature_profiles_switched_off_are_really_off(tmp_path: Path, csms: TestCsms) -> None:
    """SupportedFeatureProfiles preset to Core only: the other profiles' messages are NotSupported and
    their configuration keys are absent."""
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, configuration={"SupportedFeatureProfiles": "Core"})
    adapter = await harness.start()
    try:
        for request in (
            call.GetLocalListVersion(),
            call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[]),
            call.ReserveNow(connector_id=1, expiry_date="2030-06-02T00:00:00Z", id_tag="A", reservation_id=1),
            call.CancelReservation(reservation_id=1),
            call.TriggerMessage(requested_message="Heartbeat"),
            call.GetDiagnostics(location="ftp://example.com/"),
        ):
            with pytest.raises(NotSupportedError):
                await ask(harness, request)
        conf = await ask(harness, call.GetConfiguration())
        names = {entry["key"] for entry in conf.configuration_key}
        assert {"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
                "ReserveConnectorZeroSupported"}.isdisjoint(names)
        profiles = {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"}
        assert profiles in conf.configuration_key
        asked = await ask(harness, call.GetConfiguration(key=["LocalAuthListEnabled"]))
        assert asked.unknown_key == ["LocalAuthListEnabled"]
        change = call.ChangeConfiguration(key="LocalAuthListEnabled", value="true")
        assert (await ask(harness, change)).status == "NotSupported"
        assert adapter.authorizer.list_version == -1  # the local list is never consulted
        start = call.RemoteStartTransaction(id_tag="R", connector_id=1)
        assert (await ask(harness, start)).status == "Accepted"  # Core goes on
    finally:
        await adapter.stop()
        harness.adapter = None


async def test_reserve_connector_zero_supported_is_configurable(tmp_path: Path, csms: TestCsms) -> None:
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, configuration={"ReserveConnectorZeroSupported": False})
    adapter = await harness.start()
    try:
        conf = await ask(harness, call.GetConfiguration(key=["ReserveConnectorZeroSupported"]))
        assert conf.configuration_key == [{"key": "ReserveConnectorZeroSupported", "readonly": True,
                                           "value": "false"}]
        reserve = call.ReserveNow(connector_id=0, expiry_date="2030-06-02T00:00:00Z", id_tag="A",
                                  reservation_id=1)
        assert (await ask(harness, reserve)).status == "Rejected"
        assert harness.station.reservations == {}
    finally:
        await adapter.stop()
        harness.adapter = None


def test_supported_feature_profiles_must_name_profiles_the_charger_has(tmp_path: Path) -> None:
    wanted = {"SupportedFeatureProfiles": "Core,SmartCharging"}
    harness = Harness(tmp_path, TestCsms(), 1, configuration=wanted)
    with pytest.raises(ValueError, match="not available: SmartCharging"):
        harness.build()  # no smart charging service
    harness = Harness(tmp_path, TestCsms(), 1, configuration={"SupportedFeatureProfiles": "Reservation"})
    with pytest.raises(ValueError, match="must include Core"):
        harness.build()


async def test_tls_hostname_check_is_off_only_by_explicit_config_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A private test CA whose server certificate names another host: refused by default; accepted (chain
    still verified) with `tls_check_hostname = false`, which is logged as a warning."""
    pki = make_test_pki(tmp_path / "pki", subject_alt_name="DNS:csms.test.invalid")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.cert, pki.key)
    csms = TestCsms()
    port = await csms.start(ssl=server_ctx)
    tls = {"url": f"wss://127.0.0.1:{port}/ocpp", "ca_file": pki.ca}
    strict = Harness(tmp_path / "strict", csms, port, **tls)
    adapter = await strict.start(wait_online=False)
    try:
        await eventually(lambda: "TLS" in (adapter.link.last_error or ""))
        assert "mismatch" in (adapter.link.last_error or "") and csms.connections == 0
    finally:
        await adapter.stop()
    relaxed = Harness(tmp_path / "relaxed", csms, port, tls_check_hostname=False, **tls)
    adapter = await relaxed.start()
    try:
        assert csms.connections == 1
        assert any("tls_check_hostname = false" in r.getMessage() and r.levelname == "WARNING"
                   for r in caplog.records)
    finally:
        await adapter.stop()
        await csms.stop()


def wire_calls(csms: TestCsms) -> list[tuple[str, dict[str, Any]]]:
    return [(f[2], f[3]) for f in csms.frames if f[0] == 2]


async def test_status_does_not_wait_behind_an_unanswered_transaction_message(
    tmp_path: Path, csms: TestCsms
) -> None:
    """The CSMS ignores one StopTransaction: the retry waits TransactionMessageRetryInterval, the
    car that left is shown Available at once, and the transaction messages keep their order."""
    port = await csms.start()
    harness = Harness(tmp_path, csms, port, response_timeout_s=0.3)
    adapter = await harness.start()
    try:
        harness.station.start(1, "T")
        await harness.settle()
        csms.silence["StopTransaction"] = 1
        began = harness.clock.monotonic()
        harness.station.stop_session(1, StopReason.EV_DISCONNECTED)
        harness.station.set_status(1, ConnectorState.AVAILABLE)
        await eventually(lambda: csms.calls("StatusNotification")[-1]["status"] == "Available")
        assert harness.clock.monotonic() - began < 60  # no retry interval went by
        assert adapter.outbox.durable_depth() == 1  # the StopTransaction waits for its retry
        await eventually(lambda: adapter.outbox.durable_depth() == 0, harness.clock, 5.0)
        transaction = [a for a, _ in wire_calls(csms) if a in ("StartTransaction", "StopTransaction")]
        assert transaction == ["StartTransaction", "StopTransaction", "StopTransaction"]
    finally:
        await adapter.stop()
        harness.adapter = None


async def test_after_a_reconnect_status_goes_out_before_the_transaction_backlog(harness: Harness) -> None:
    adapter = await harness.start()
    adapter.config.change("MeterValueSampleInterval", "10")
    harness.station.start(1, "T")
    await harness.settle()
    await adapter.link.disable()
    await eventually(lambda: harness.csms.cp is None)
    for _ in range(30):  # five minutes offline: a backlog of transaction MeterValues
        harness.station.meter(1, add_wh=100)
        await harness.clock.advance(10)
    harness.station.stop_session(1, StopReason.EV_DISCONNECTED)
    harness.station.set_status(1, ConnectorState.AVAILABLE)
    backlog = adapter.outbox.durable_depth()
    assert backlog > 25
    seen = len(harness.csms.frames)
    adapter.link.enable()
    await eventually(lambda: adapter.outbox.depth() == 0, harness.clock, 0.05)
    after = [(a, p) for a, p in wire_calls(harness.csms)[seen:] if a != "BootNotification"]
    status_at = next(
        i for i, (a, p) in enumerate(after) if a == "StatusNotification" and p["connectorId"] == 1
    )
    assert after[status_at][1]["status"] == "Available"
    assert status_at <= 3  # promptly: not behind the backlog
    transaction = [a for a, _ in after if a != "StatusNotification"]
    assert transaction == ["MeterValues"] * (backlog - 1) + ["StopTransaction"]  # still in order
