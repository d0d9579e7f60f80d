"""Signed meter values end to end: the whole controller with a signing meter (the simulator's, and the
EM580 and Iskra emulations over Modbus TCP) against a real websocket CSMS. The CSMS's SignedData values
are decoded and their OCMF records verified with `cryptography` directly; `chargepi sessions verify`
checks the stored records."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from firmware.cli.main import main
from firmware.core.events import SessionStarted
from tests.conftest import Harness, HarnessFactory
from tests.drivers.signing_emulators import Em580Emulator, IskraEmulator, _Emulator
from tests.drivers.test_signing_meters import independently_verified
from tests.ocpp.conftest import eventually
from tests.ocpp.csms import TestCsms
from tests.ocpp.test_application import ocpp_section, online


def signed_values(meter_values: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(context, SignedMeterValueType) of every SignedData sampled value."""
    return [(s["context"], json.loads(s["value"])) for mv in meter_values for s in mv["sampledValue"]
            if s.get("format") == "SignedData"]


def ocmf_of(signed: dict[str, Any]) -> str:
    assert signed["encodingMethod"] == "OCMF"
    return base64.b64decode(signed["signedMeterData"]).decode()


def key_of(signed: dict[str, Any]) -> str:
    text = base64.b64decode(signed["publicKey"]).decode()
    assert text.startswith("oca:base16:asn1:")
    return text.removeprefix("oca:base16:asn1:")


async def charge(h: Harness, csms: TestCsms, tag: str = "CARD-1", minutes: int = 10) -> None:
    h.sim.plug()
    await h.advance(1)
    h.sim.swipe(tag)
    await eventually(lambda: csms.calls("StartTransaction") != [], h.clock, 0.2)
    await h.advance(minutes * 60)
    h.sim.unplug()
    await eventually(lambda: csms.calls("StopTransaction") != [], h.clock, 0.1)


async def test_simulated_signing_meter_session(make_harness: HarnessFactory, csms: TestCsms,
                                               short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = await csms.start()
    signing = {"id": 1, "hal": {"meter": {"driver": "fake", "ocmf": True}}}
    h = await make_harness(ocpp=ocpp_section(port), connectors=[signing])
    await online(h)
    assert csms.cp is not None
    keys = await csms.cp.call(call.GetConfiguration(key=["MeterPublicKey1", "PublicKeyWithSignedMeterValue"]),
                              suppress=False)
    values = {k["key"]: k for k in keys.configuration_key}
    public_key = values["MeterPublicKey1"]["value"]
    assert values["MeterPublicKey1"]["readonly"] is True and len(public_key) == 182
    assert values["PublicKeyWithSignedMeterValue"]["value"] == "OncePerTransaction"
    await charge(h, csms)

    transaction_id = csms.calls("StopTransaction")[0]["transactionId"]
    begins = signed_values([mv for m in csms.calls("MeterValues") if m.get("transactionId") == transaction_id
                            for mv in m["meterValue"]])
    assert [context for context, _ in begins] == ["Transaction.Begin"]
    start = independently_verified(ocmf_of(begins[0][1]), key_of(begins[0][1]))
    assert start["ID"] == "CARD-1" and key_of(begins[0][1]) == public_key
    stop_signed = signed_values(csms.calls("StopTransaction")[0]["transactionData"])
    assert [c for c, _ in stop_signed] == ["Transaction.Begin", "Transaction.End"]
    assert stop_signed[1][1]["publicKey"] == ""  # OncePerTransaction: only the first carries the key
    proof = independently_verified(ocmf_of(stop_signed[1][1]), public_key)
    stop = csms.calls("StopTransaction")[0]
    assert [r["TX"] for r in proof["RD"]] == ["B", "E"]
    assert round(proof["RD"][1]["RV"] * 1000) == stop["meterStop"]

    (started,) = h.of_type(SessionStarted)
    config = short_dir / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{short_dir}"\n')
    capsys.readouterr()
    assert main(["sessions", "verify", started.session_id, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Transaction.Begin" in out and "Transaction.End" in out and out.count(": verified") == 2
    record = short_dir / "end.ocmf"
    record.write_text(ocmf_of(stop_signed[1][1]).replace('"RV":', '"RV":1', 1))  # tampered
    assert main(["sessions", "verify", "--record", str(record), "--public-key", public_key,
                 "--config", str(config)]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["em580", "iskra-wm3m4c"])
async def test_modbus_signing_meter_session(make_harness: HarnessFactory, csms: TestCsms,
                                            signing_modbus_meter: Callable[[_Emulator], Awaitable[int]],
                                            model: str) -> None:
    emulator: _Emulator = Em580Emulator(device_id=3) if model == "em580" else IskraEmulator(device_id=3)
    meter_port = await signing_modbus_meter(emulator)
    port = await csms.start()
    meter = {"driver": "modbus-tcp", "host": "127.0.0.1", "port": meter_port, "device_id": 3, "model": model,
             "ocmf": True}
    every = {"PublicKeyWithSignedMeterValue": "EveryMeterValue"}
    h = await make_harness(ocpp=ocpp_section(port, configuration=every),
                           connectors=[{"id": 1, "hal": {"meter": meter}}])
    await online(h)
    await charge(h, csms, "TAG-9")
    stop_signed = signed_values(csms.calls("StopTransaction")[0]["transactionData"])
    end = [s for c, s in stop_signed if c == "Transaction.End"]
    assert len(end) == 1
    assert bytes.fromhex(key_of(end[0])) == emulator.public_key_der
    proof = independently_verified(ocmf_of(end[0]), key_of(end[0]))
    assert proof["ID"] == "TAG-9" and [r["TX"] for r in proof["RD"]] == ["B", "E"]
    begins = [c for c, _ in stop_signed if c == "Transaction.Begin"]
    assert begins == ([] if model == "em580" else ["Transaction.Begin"])  # the EM580 signs only at the end
