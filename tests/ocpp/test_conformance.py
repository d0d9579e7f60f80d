"""OCPP 1.6 conformance against a real websocket CSMS: what the specification says, message by message."""

from __future__ import annotations

import itertools
from pathlib import Path

from ocpp.v16 import call

from firmware.core.vocabulary import StopReason
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
