"""Functional blocks plug into the 2.0.1 charge point (firmware/ocpp/v201/feature.py): their handlers answer
the CSMS over a real websocket, and two blocks answering one action are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call, call_result
from websockets.asyncio.client import connect

from firmware.ocpp.v201.charge_point import SUBPROTOCOL, ChargePoint201, on
from firmware.ocpp.v201.provisioning import Provisioning
from tests.ocpp201 import dm_fixtures
from tests.ocpp201.csms201 import NOW, running_csms


class CacheClearer:
    def __init__(self) -> None:
        self.cleared = 0

    @on("ClearCache")
    def on_clear_cache(self, **kwargs: Any) -> Any:
        self.cleared += 1
        return call_result.ClearCache(status="Accepted")

    async def online(self, cp: ChargePoint201) -> None:
        return None


def station(ws: Any, tmp_path: Path, *features: object) -> ChargePoint201:
    return ChargePoint201("CP-1", ws, dm_fixtures.framing(tmp_path),
                          Provisioning(dm_fixtures.model(tmp_path, 1), lambda: NOW), "chargepi",
                          "chargepi-ac", "SN-1", "1.0", response_timeout=5, features=features)


async def test_a_feature_answers_the_csms(tmp_path: Path) -> None:
    feature = CacheClearer()
    async with running_csms() as csms, connect(f"{csms.url}/CP-1", subprotocols=[SUBPROTOCOL]) as ws:
        reader = asyncio.create_task(station(ws, tmp_path, feature).start())
        await asyncio.wait_for(csms.connected.wait(), 5)
        assert csms.peer is not None
        answer = await csms.peer.call(call.ClearCache(), suppress=False)
        assert answer.status == "Accepted" and feature.cleared == 1
        with pytest.raises(NotSupportedError):  # a 2.0.1 action no feature answers (OCPP-J 2.0.1 §4.3)
            await csms.peer.call(call.ClearDisplayMessage(id=1), suppress=False)
        reader.cancel()


async def test_two_features_for_one_action_are_refused(tmp_path: Path) -> None:
    async with running_csms() as csms, connect(f"{csms.url}/CP-1", subprotocols=[SUBPROTOCOL]) as ws:
        with pytest.raises(ValueError, match="ClearCache is answered twice"):
            station(ws, tmp_path, CacheClearer(), CacheClearer())
