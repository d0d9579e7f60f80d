"""Proves the strict ocpp-rpc CSMS harness with a minimal `ocpp` charge point: a session passes strict
validation both ways, a malformed timestamp does not, CSMS-initiated calls arrive, Basic auth is checked.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from tests.certificates import make_test_pki
from tests.csms.client import mini_charge_point
from tests.interop.harness import InteropCallError, InteropCsms, run_interop_csms

NOW = "2026-01-05T08:00:00.000Z"


async def test_minimal_session_passes_strict_validation(interop_csms: InteropCsms) -> None:
    async with mini_charge_point(interop_csms.url, "CP_IOP") as cp:
        boot = await cp.call(
            call.BootNotification(charge_point_model="chargepi-ac", charge_point_vendor="chargepi"),
            suppress=False,
        )
        assert boot.status == "Accepted"
        await cp.call(
            call.StatusNotification(connector_id=0, error_code="NoError", status="Available"), suppress=False
        )
        assert (await cp.call(call.Authorize(id_tag="BLOCKED"), suppress=False)).id_tag_info[
            "status"
        ] == "Blocked"
        assert (await cp.call(call.Authorize(id_tag="T1"), suppress=False)).id_tag_info[
            "status"
        ] == "Accepted"
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="T1", meter_start=100, timestamp=NOW), suppress=False
        )
        sampled = [
            {
                "value": "1.5",
                "measurand": "Energy.Active.Import.Register",
                "unit": "kWh",
                "context": "Sample.Periodic",
            }
        ]
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=start.transaction_id,
                meter_value=[{"timestamp": NOW, "sampled_value": sampled}],
            ),
            suppress=False,
        )
        await cp.call(
            call.StopTransaction(
                meter_stop=1600, timestamp=NOW, transaction_id=start.transaction_id, id_tag="T1"
            ),
            suppress=False,
        )

        result = await interop_csms.call(
            "CP_IOP", "RemoteStartTransaction", {"idTag": "T2", "connectorId": 1}
        )
        assert result == {"status": "Accepted"}
        await interop_csms.call("CP_IOP", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
        await interop_csms.call("CP_IOP", "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert [name for name, _ in cp.handled] == [
            "RemoteStartTransaction",
            "ChangeConfiguration",
            "TriggerMessage",
        ]
        with pytest.raises(InteropCallError, match="NotImplemented"):
            await interop_csms.call("CP_IOP", "UnlockConnector", {"connectorId": 1})

    assert [action for action, _ in interop_csms.calls(cp="CP_IOP")] == [
        "BootNotification", "StatusNotification", "Authorize", "Authorize", "StartTransaction", "MeterValues",
        "StopTransaction",
    ]  # fmt: skip
    assert (await interop_csms.wait_for("MeterValues"))["transactionId"] == start.transaction_id
    assert interop_csms.validation_failures == []
    assert interop_csms.call_errors_sent == []


async def test_strict_mode_rejects_a_timestamp_without_zone(interop_csms: InteropCsms) -> None:
    async with mini_charge_point(interop_csms.url, "CP_SLOPPY") as cp:
        # The Python library does not check date-time formats; the strict CSMS does.
        with pytest.raises(OCPPError):
            await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="T1", meter_start=0, timestamp="2026-01-05 08:00"
                ),
                suppress=False,
            )
    [failure] = interop_csms.validation_failures
    assert failure["method"] == "StartTransaction" and failure["isCall"] and not failure["outbound"]
    assert "date-time" in failure["error"]
    assert interop_csms.call_errors_sent[0][2] == "FormationViolation"  # the OCPP 1.6 spelling


async def test_http_basic_auth_is_enforced() -> None:
    async with run_interop_csms("--password", "CP_AUTH=s3cret") as csms:
        host = csms.url.removeprefix("ws://")
        async with mini_charge_point(f"ws://CP_AUTH:s3cret@{host}", "CP_AUTH") as cp:
            await cp.call(call.Heartbeat(), suppress=False)
        with pytest.raises(InvalidStatus) as refused:
            async with mini_charge_point(f"ws://CP_AUTH:wrong@{host}", "CP_AUTH"):
                pass
        assert refused.value.response.status_code == 401


async def test_tls_security_profile_2(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    async with run_interop_csms("--tls-cert", str(pki.cert), "--tls-key", str(pki.key)) as csms:
        assert csms.url.startswith("wss://")
        trusting = ssl.create_default_context(cafile=str(pki.ca))
        async with mini_charge_point(csms.url, "CP_TLS", ssl=trusting) as cp:
            await cp.call(call.Heartbeat(), suppress=False)
        with pytest.raises(ssl.SSLCertVerificationError):
            async with mini_charge_point(csms.url, "CP_TLS", ssl=ssl.create_default_context()):
                pass
        assert [m["cp"] for m in csms.messages if m["event"] == "connect"] == ["CP_TLS"]
