"""The development CSMS, driven by a real `ocpp` charge point over websockets on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import re
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.certificates import make_test_pki
from tests.csms.client import mini_charge_point
from tools.csms import DevCsms

NOW = "2026-01-05T08:00:00.000Z"


@pytest.fixture
async def csms():
    log = io.StringIO()
    server = DevCsms(
        accepted_tags={"GOOD", "CHILD"},
        blocked_tags={"STOLEN"},
        tag_parents={"CHILD": "FLEET"},
        heartbeat_interval=120,
        log_stream=log,
        now=lambda: datetime(2026, 1, 5, 8, tzinfo=UTC),
    )
    async with server:
        yield server


async def test_a_full_session_is_answered_and_recorded(csms: DevCsms) -> None:
    async with mini_charge_point(csms.url) as cp:
        boot = await cp.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V"), suppress=False
        )
        assert (boot.status, boot.interval, boot.current_time) == ("Accepted", 120, NOW)
        assert (await cp.call(call.Heartbeat(), suppress=False)).current_time == NOW
        statuses = {}
        for tag in ("GOOD", "STOLEN", "UNKNOWN", "CHILD"):
            statuses[tag] = (await cp.call(call.Authorize(id_tag=tag), suppress=False)).id_tag_info
        assert statuses == {
            "GOOD": {"status": "Accepted"},
            "STOLEN": {"status": "Blocked"},
            "UNKNOWN": {"status": "Invalid"},
            "CHILD": {"status": "Accepted", "parent_id_tag": "FLEET"},
        }
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"), suppress=False
        )
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=1000, timestamp=NOW),
            suppress=False,
        )
        second = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="UNKNOWN", meter_start=5, timestamp=NOW),
            suppress=False,
        )
        assert second.transaction_id == start.transaction_id + 1
        assert second.id_tag_info == {"status": "Invalid"}
        sample = {
            "timestamp": NOW,
            "sampled_value": [{"value": "1500", "measurand": "Energy.Active.Import.Register"}],
        }
        await cp.call(
            call.MeterValues(connector_id=1, transaction_id=start.transaction_id, meter_value=[sample]),
            suppress=False,
        )
        stop = await cp.call(
            call.StopTransaction(
                meter_stop=2500, timestamp=NOW, transaction_id=start.transaction_id, reason="EVDisconnected"
            ),
            suppress=False,
        )
        assert stop.id_tag_info is None
        await cp.call(call.FirmwareStatusNotification(status="Downloading"), suppress=False)
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False)
        transfer = await cp.call(call.DataTransfer(vendor_id="chargepi", data="x"), suppress=False)
        assert transfer.status == "Accepted"

    assert [action for action, _ in csms.received] == [
        "BootNotification", "Heartbeat", "Authorize", "Authorize", "Authorize", "Authorize",
        "StatusNotification", "StartTransaction", "StartTransaction", "MeterValues", "StopTransaction",
        "FirmwareStatusNotification", "DiagnosticsStatusNotification", "DataTransfer",
    ]  # fmt: skip
    meter = await csms.wait_for("MeterValues")
    assert (
        meter["meterValue"][0]["sampledValue"][0]["measurand"] == "Energy.Active.Import.Register"
    )  # camelCase
    tx = csms.transactions[start.transaction_id]
    assert (tx.cp_id, tx.connector_id, tx.id_tag, tx.meter_start, tx.meter_stop, tx.reason) == (
        "CP_1",
        1,
        "GOOD",
        1000,
        2500,
        "EVDisconnected",
    )
    assert csms.call_errors == []
    log = csms.log_stream.getvalue()  # type: ignore[union-attr]
    assert re.search(r"\[CP_1\] CP->CSMS CALL BootNotification \{\"chargePointModel\":\"M\"", log)
    assert "[CP_1] CSMS->CP RESULT StartTransaction" in log


async def test_a_retransmitted_start_transaction_keeps_its_transaction_id(csms: DevCsms) -> None:
    start = call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=1000, timestamp=NOW)
    async with mini_charge_point(csms.url) as cp:
        first = await cp.call(start, suppress=False)
    async with mini_charge_point(csms.url) as cp:  # the answer was lost: the charger sends it again
        again = await cp.call(start, suppress=False)
        later = await cp.call(call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=1000,
                                                    timestamp="2026-01-05T09:00:00.000Z"), suppress=False)
    assert again.transaction_id == first.transaction_id
    assert later.transaction_id == first.transaction_id + 1
    assert sorted(csms.transactions) == [first.transaction_id, later.transaction_id]


async def test_wait_for_filters_by_predicate_sender_and_mark(csms: DevCsms) -> None:
    async with mini_charge_point(csms.url, "A") as a, mini_charge_point(csms.url, "B") as b:
        await a.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        mark = csms.mark()
        waiter = asyncio.create_task(
            csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", timeout=5, since=mark)
        )
        await b.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        assert not waiter.done()
        await b.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        assert (await waiter)["status"] == "Charging"
        assert (await csms.wait_for("StatusNotification", cp_id="A"))["status"] == "Available"
        assert csms.count("StatusNotification") == 3 and csms.count("StatusNotification", cp_id="B") == 2
        with pytest.raises(TimeoutError):
            await csms.wait_for("StatusNotification", cp_id="A", since=mark, timeout=0.05)


async def test_csms_initiated_calls_reach_the_charge_point(csms: DevCsms) -> None:
    async with mini_charge_point(csms.url) as cp:
        await csms.wait_connected("CP_1")
        profile = {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
            },
        }  # fmt: skip
        start = await csms.call("CP_1", call.RemoteStartTransaction(id_tag="GOOD", connector_id=1))
        assert start.status == "Accepted"
        await csms.call("CP_1", call.ChangeConfiguration(key="HeartbeatInterval", value="60"))
        await csms.call("CP_1", call.TriggerMessage(requested_message="StatusNotification", connector_id=1))
        await csms.call("CP_1", call.Reset(type="Soft"))
        await csms.call("CP_1", call.UpdateFirmware(location="ftp://x/fw.bin", retrieve_date=NOW, retries=2))
        await csms.call("CP_1", call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile))
        assert [name for name, _ in cp.handled] == [
            "RemoteStartTransaction", "ChangeConfiguration", "TriggerMessage", "Reset", "UpdateFirmware",
            "SetChargingProfile",
        ]  # fmt: skip
        assert cp.handled[1][1] == {"key": "HeartbeatInterval", "value": "60"}
        with pytest.raises(OcppNotImplemented):
            await csms.call("CP_1", call.UnlockConnector(connector_id=1))
    with pytest.raises(ConnectionError, match="CP_1"):
        await csms.call("CP_1", call.Reset(type="Hard"))


async def test_pending_boot_and_overridden_answers(csms: DevCsms) -> None:
    csms.boot_status = "Pending"
    csms.respond(
        "StartTransaction", lambda cp_id, p: {"transactionId": 0, "idTagInfo": {"status": "ConcurrentTx"}}
    )
    async with mini_charge_point(csms.url) as cp:
        boot = await cp.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V"), suppress=False
        )
        assert boot.status == "Pending"
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=0, timestamp=NOW), suppress=False
        )
        assert (start.transaction_id, start.id_tag_info) == (0, {"status": "ConcurrentTx"})
        csms.respond("StartTransaction", None)
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=0, timestamp=NOW), suppress=False
        )
        assert start.transaction_id == 1


async def test_bad_frames_get_call_errors_and_are_logged(csms: DevCsms) -> None:
    async with connect(f"{csms.url}/RAW", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "1", "StartTransaction", {"connectorId": 1}]))
        reply = json.loads(await ws.recv())
        assert reply[:2] == [4, "1"]
        await ws.send(json.dumps([2, "2", "NoSuchAction", {}]))
        assert (
            json.loads(await ws.recv())[2] == "NotSupported"
        )  # the ocpp library's choice for unknown actions
    assert [cp for cp, _ in csms.call_errors] == ["RAW", "RAW"]


async def test_disconnect_reconnect_and_restart_on_the_same_port(csms: DevCsms) -> None:
    async with mini_charge_point(csms.url) as cp:
        await csms.wait_connected("CP_1")
        await csms.disconnect("CP_1")
        await csms.wait_disconnected("CP_1")
        assert "CP_1" not in csms.connected
        with pytest.raises(ConnectionClosed):
            await cp.call(call.Heartbeat())
    port = csms.port
    await csms.stop()
    with pytest.raises(OSError):
        async with mini_charge_point(csms.url):
            pass
    await csms.start()
    assert csms.port == port
    async with mini_charge_point(csms.url) as cp:
        await cp.call(call.Heartbeat(), suppress=False)
    assert csms.connects == ["CP_1", "CP_1"]


async def test_refuses_a_connection_without_the_ocpp_subprotocol(csms: DevCsms) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{csms.url}/CP_X"):
            pass
    assert refused.value.response.status_code == 400
    assert csms.connects == []


async def test_http_basic_auth() -> None:
    async with DevCsms(credentials={"CP_1": "s3cret", "CP_2": "other"}, log_stream=None) as csms:
        host = f"127.0.0.1:{csms.port}"
        async with mini_charge_point(f"ws://CP_1:s3cret@{host}") as cp:
            await cp.call(call.Heartbeat(), suppress=False)
        with pytest.raises(InvalidStatus) as refused:
            async with mini_charge_point(f"ws://CP_1:wrong@{host}"):
                pass
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as impostor:  # CP_2's valid credentials, CP_1's path
            async with mini_charge_point(f"ws://CP_2:other@{host}", "CP_1"):
                pass
        assert impostor.value.response.status_code == 401
        assert csms.connects == ["CP_1"]


async def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    ca, cert, key = make_test_pki(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    async with DevCsms(ssl_context=server_context, log_stream=None) as csms:
        assert csms.url.startswith("wss://")
        client_context = ssl.create_default_context(cafile=str(ca))
        async with mini_charge_point(csms.url, ssl=client_context) as cp:
            await cp.call(call.Heartbeat(), suppress=False)
        with pytest.raises(ssl.SSLCertVerificationError):
            async with mini_charge_point(csms.url, ssl=ssl.create_default_context()):
                pass


async def test_command_line_server_logs_a_session() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.csms", "--port", "0", "--block", "BAD",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = re.search(r"(ws://127\.0\.0\.1:\d+)", first)
        assert url, first
        async with mini_charge_point(url.group(1), "CLI_CP") as cp:
            answer = await cp.call(call.Authorize(id_tag="BAD"), suppress=False)
            assert answer.id_tag_info == {"status": "Blocked"}
        lines: list[str] = []
        while not any("RESULT Authorize" in line for line in lines):
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 10)).decode())
        assert any('[CLI_CP] CP->CSMS CALL Authorize {"idTag":"BAD"}' in line for line in lines)
    finally:
        proc.terminate()
        await proc.wait()
