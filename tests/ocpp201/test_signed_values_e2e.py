"""2.0.1 signed meter values end to end: a charger with the simulator's signing meter (simulated time), and
with the EM580 and Iskra emulations over Modbus TCP, against the v201 test CSMS. The begin record goes out
as soon as it is signed and again in Ended with the end record, each as `signedMeterValue`; Ended waits
for the end signature. The OCMF records are verified with `cryptography` directly
(tests/drivers/test_signing_meters.py)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hal.clock import SimClock
from tests.conftest import HarnessFactory
from tests.drivers.signing_emulators import Em580Emulator, IskraEmulator, _Emulator
from tests.drivers.test_signing_meters import independently_verified
from tests.ocpp.conftest import eventually
from tests.ocpp201.csms201 import running_csms
from tests.ocpp201.test_adapter_e2e import section
from tests.ocpp201.test_transactions_e2e import events
from tests.ocpp201.test_transactions_recovery import kill

SIGN_TIME_S = 5
METER = {"driver": "fake", "ocmf": True, "sign_time_s": SIGN_TIME_S}


def signed(event: dict[str, Any]) -> list[tuple[str, float, dict[str, Any]]]:
    """(context, value, signedMeterValue) of every signed sampled value of the event."""
    return [(s["context"], s["value"], s["signed_meter_value"]) for mv in event.get("meter_value", [])
            for s in mv["sampled_value"] if "signed_meter_value" in s]


def key_of(value: dict[str, Any]) -> str:
    text = base64.b64decode(value["public_key"]).decode()
    assert text.startswith("oca:base16:asn1:")
    return text.removeprefix("oca:base16:asn1:")


def ocmf_of(value: dict[str, Any]) -> str:
    assert value["encoding_method"] == "OCMF"
    return base64.b64decode(value["signed_meter_data"]).decode()


async def test_signed_begin_and_end_in_transaction_events(make_harness: HarnessFactory) -> None:
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url), connectors=[{"id": 1, "hal": {"meter": METER}}],
                               station={"free_charging": True})
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        h.sim.plug()
        await eventually(lambda: any(signed(e) for e in events(csms)), h.clock, 0.1, within=15)
        first = next(e for e in events(csms) if signed(e))
        ((context, value, begin),) = signed(first)
        assert context == "Transaction.Begin" and first["event_type"] in ("Started", "Updated")
        if first["event_type"] == "Updated":
            assert first["trigger_reason"] == "SignedDataReceived"
        public_key = key_of(begin)
        start = independently_verified(ocmf_of(begin), public_key)
        assert [r["TX"] for r in start["RD"]] == ["B"] and value == round(start["RD"][0]["RV"] * 1000)

        await h.advance(600)
        h.sim.unplug()
        await h.advance(SIGN_TIME_S - 2)
        assert all(e["event_type"] != "Ended" for e in events(csms))  # the meter is still signing
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5, within=15)
        ended = events(csms)[-1]
        assert [c for c, _, _ in signed(ended)] == ["Transaction.Begin", "Transaction.End"]
        _, end_value, end = signed(ended)[1]
        assert end["public_key"] == ""  # OncePerTransaction: only the first signed value carries it
        proof = independently_verified(ocmf_of(end), public_key)
        assert [r["TX"] for r in proof["RD"]] == ["B", "E"] and proof["RD"][1]["RV"] > proof["RD"][0]["RV"]
        assert end_value == round(proof["RD"][1]["RV"] * 1000)
        unsigned_end = [s["value"] for mv in ended["meter_value"] for s in mv["sampled_value"]
                        if s["context"] == "Transaction.End" and "signed_meter_value" not in s
                        and s["measurand"] == "Energy.Active.Import.Register"]
        assert len(unsigned_end) == 1 and abs(unsigned_end[0] - end_value) < 1  # the meter signs whole Wh
        assert [e["seq_no"] for e in events(csms)] == list(range(len(events(csms))))


async def test_killed_while_the_meter_signs_the_end_still_sends_it(make_harness: HarnessFactory,
                                                                   short_dir: Path) -> None:
    async with running_csms() as csms:
        connectors = [{"id": 1, "hal": {"meter": METER}}]
        h = await make_harness(state_dir=short_dir, ocpp=section(csms.url), connectors=connectors,
                               station={"free_charging": True})
        h.sim.plug()
        await eventually(lambda: any(signed(e) for e in events(csms)), h.clock, 0.1, within=15)
        public_key = key_of(next(signed(e) for e in events(csms) if signed(e))[0][2])
        await h.advance(300)
        h.sim.unplug()
        await h.advance(1)  # the end command reached the meter; its signature takes SIGN_TIME_S
        assert all(e["event_type"] != "Ended" for e in events(csms))
        await kill(h)  # the old process's clock never moves again: nothing of it finishes
        again = await make_harness(state_dir=short_dir, clock=SimClock(h.clock.now()),
                                   ocpp=section(csms.url), connectors=connectors,
                                   station={"free_charging": True})
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", again.clock, 0.5, within=30)
        ended = events(csms)[-1]
        assert ended["transaction_info"]["stopped_reason"] == "PowerLoss"
        assert [c for c, _, _ in signed(ended)] == ["Transaction.Begin", "Transaction.End"]
        proof = independently_verified(ocmf_of(signed(ended)[1][2]), public_key)
        assert [r["TX"] for r in proof["RD"]] == ["B", "E"] and proof["RD"][1]["RV"] > proof["RD"][0]["RV"]
        assert sum(e["event_type"] == "Ended" for e in events(csms)) == 1


@pytest.mark.parametrize("model", ["em580", "iskra-wm3m4c"])
async def test_modbus_signing_meter_session(make_harness: HarnessFactory,
                                            signing_modbus_meter: Callable[[_Emulator], Awaitable[int]],
                                            model: str) -> None:
    emulator: _Emulator = Em580Emulator(device_id=3) if model == "em580" else IskraEmulator(device_id=3)
    meter = {"driver": "modbus-tcp", "host": "127.0.0.1", "port": await signing_modbus_meter(emulator),
             "device_id": 3, "model": model, "ocmf": True}
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url), connectors=[{"id": 1, "hal": {"meter": meter}}],
                               station={"free_charging": True})
        await eventually(lambda: len(csms.statuses) == 1, h.clock, 0.1, within=15)
        h.sim.plug()
        await eventually(lambda: any(e["event_type"] == "Started" for e in events(csms)), h.clock, 0.1,
                         within=15)
        await h.advance(600)
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5, within=30)
        values = [v for e in events(csms) for v in signed(e)]
        contexts = [c for c, _, _ in values]
        # The EM580 signs only the end (its begin is a snapshot inside the end record); the Iskra both.
        assert contexts.count("Transaction.End") == 1
        assert ("Transaction.Begin" in contexts) is (model != "em580")
        keys = {key_of(v) for _, _, v in values if v["public_key"]}  # the meter's own, read from it
        assert [bytes.fromhex(k) for k in keys] == [emulator.public_key_der]
        _, end_value, end = next(v for v in values if v[0] == "Transaction.End")
        proof = independently_verified(ocmf_of(end), keys.pop())
        assert [r["TX"] for r in proof["RD"]] == ["B", "E"]
        assert end_value == round(proof["RD"][1]["RV"] * 1000)


@pytest.mark.parametrize("mode", ["Never", "EveryMeterValue"])
async def test_public_key_with_signed_meter_value(make_harness: HarnessFactory, mode: str) -> None:
    preset = {"device_model": {"OCPPCommCtrlr.PublicKeyWithSignedMeterValue": mode}}
    async with running_csms() as csms:
        h = await make_harness(ocpp=section(csms.url) | preset,
                               connectors=[{"id": 1, "hal": {"meter": METER}}])
        h.sim.plug()
        await eventually(lambda: any(signed(e) for e in events(csms)), h.clock, 0.1, within=15)
        await h.advance(60)
        h.sim.unplug()
        await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", h.clock, 0.5, within=15)
        keys = [v["public_key"] for e in events(csms) for _, _, v in signed(e)]
        assert len(keys) == 3  # the begin (sent, then in Ended) and the end
        assert all(keys) if mode == "EveryMeterValue" else not any(keys)
