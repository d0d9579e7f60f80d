"""SetNetworkProfile (B09) on a whole 2.0.1 charger: Rejected with its reason, nothing of the profile logged,
and the station stays on its one connection profile."""

from __future__ import annotations

import logging

import pytest
from ocpp.v201 import call

from tests.conftest import HarnessFactory
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import running_csms
from tests.ocpp201.test_adapter_e2e import section


async def test_set_network_profile_is_rejected(make_harness: HarnessFactory,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url))
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        assert csms.peer is not None
        answer = await csms.peer.call(call.SetNetworkProfile(configuration_slot=2, connection_data={
            "ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": "wss://other.example/ocpp",
            "message_timeout": 30, "security_profile": 2, "ocpp_interface": "Wired0",
            "vpn": {"server": "vpn.example", "user": "u", "password": "s3cret-vpn", "key": "k",
                    "type": "IPSec"}}), suppress=False)
        assert answer.status == "Rejected" and answer.status_info["reason_code"] == "UnsupportedRequest"
        assert "s3cret-vpn" not in caplog.text
        got = await csms.peer.call(call.GetVariables(get_variable_data=[{
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "ActiveNetworkProfile"}}]),
            suppress=False)
        assert got.get_variable_result[0]["attribute_value"] == "1"
        assert len(csms.boots) == 1  # still the same connection
