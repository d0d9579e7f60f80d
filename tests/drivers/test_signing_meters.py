"""The signing-meter drivers (Iskra WM3M4C, Carlo Gavazzi EM580) against pymodbus emulations over TCP:
readings, the public key, the begin/end sequence, and records verified with `cryptography` directly
(not with chargepi's OCMF code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hal.clock import RealClock
from hal.contract import MeterError, signing_meter
from hal.meters.bus import BusRegistry
from hal.meters.em580_ocmf import Em580Ocmf
from hal.meters.iskra_wm3m4c import IskraWm3m4c
from hal.meters.registermap import builtin_maps
from hal.ocmf import SignedTransactionRequest
from tests.drivers.meter_emulator import free_port, start_tcp_server
from tests.drivers.signing_emulators import Em580Emulator, IskraEmulator, _Emulator

REQUEST = SignedTransactionRequest("tx-1", "04A1B2C3", "CP-7", "0.35 EUR/kWh")


def independently_verified(record: str, public_key_hex: str) -> dict[str, Any]:
    """Split and check an OCMF record with nothing but `cryptography`."""
    head, rest = record.split("|", 1)
    payload_text, signature_text = rest.rsplit("|", 1)
    assert head == "OCMF"
    key = serialization.load_der_public_key(bytes.fromhex(public_key_hex))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(bytes.fromhex(json.loads(signature_text)["SD"]), payload_text.encode(),
               ec.ECDSA(hashes.SHA256()))
    payload: dict[str, Any] = json.loads(payload_text)
    return payload


Served = Callable[[_Emulator], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[Any] = []
    buses = BusRegistry(RealClock())

    async def start(emulator: _Emulator) -> Any:
        port = free_port()
        servers.append(await start_tcp_server([emulator], port))  # type: ignore[list-item]
        return buses.tcp("127.0.0.1", port, 1.0, 1)

    yield start
    for server in servers:
        await server.shutdown()


async def test_iskra_signs_begin_and_end(serve: Callable[..., Any]) -> None:
    emulator = IskraEmulator()
    meter = IskraWm3m4c(await serve(emulator), emulator.device_id, RealClock())
    assert signing_meter(meter) is meter
    await meter.start()
    reading = await meter.read()
    assert reading.energy_import_wh == 1_234_500.0
    assert reading.voltage_v == (230.0, 231.0, 232.0) and reading.current_a == (16.0, 16.0, 16.0)
    assert reading.power_total_w == 11040.0 and reading.frequency_hz == 50.0
    key = await meter.public_key()
    assert bytes.fromhex(key) == emulator.public_key_der

    begin = await meter.begin_transaction(REQUEST)
    assert begin is not None
    start = independently_verified(begin.data, key)
    assert start["ID"] == "04A1B2C3" and start["CI"] == "CP-7" and [r["TX"] for r in start["RD"]] == ["B"]
    emulator.energy_wh += 7_250.0
    end = await meter.end_transaction()
    proof = independently_verified(end.data, end.public_key)
    assert [r["TX"] for r in proof["RD"]] == ["B", "E"]
    assert proof["RD"][1]["RV"] - proof["RD"][0]["RV"] == pytest.approx(7.25)
    assert emulator.commands == ["B", "r"]
    assert (7060, [4]) in emulator.writes  # ECDSA-secp256r1-SHA256 selected before the command
    await meter.stop()


async def test_iskra_signature_with_superfluous_zeros_is_made_strict_der(serve: Callable[..., Any]) -> None:
    emulator = IskraEmulator(pad_signature=True)
    meter = IskraWm3m4c(await serve(emulator), emulator.device_id, RealClock())
    await meter.begin_transaction(REQUEST)
    end = await meter.end_transaction()
    independently_verified(end.data, end.public_key)  # strict DER: cryptography accepts it


async def test_iskra_end_without_begin_is_an_error(serve: Callable[..., Any]) -> None:
    emulator = IskraEmulator()
    meter = IskraWm3m4c(await serve(emulator), emulator.device_id, RealClock())
    with pytest.raises(MeterError, match="no transaction is open"):
        await meter.end_transaction()


async def test_iskra_stale_transaction_is_ended_before_a_new_begin(serve: Callable[..., Any]) -> None:
    emulator = IskraEmulator()
    meter = IskraWm3m4c(await serve(emulator), emulator.device_id, RealClock())
    await meter.begin_transaction(REQUEST)
    await meter.begin_transaction(REQUEST)  # e.g. the charger restarted mid-session
    assert emulator.commands == ["B", "r", "B"]


async def test_em580_signs_one_record_at_the_end_with_the_tariff_text(serve: Callable[..., Any]) -> None:
    emulator = Em580Emulator()
    meter = Em580Ocmf(await serve(emulator), emulator.device_id, builtin_maps()["em580"], RealClock())
    await meter.start()
    reading = await meter.read()
    assert reading.energy_import_wh == pytest.approx(1_234_500.0)
    assert reading.voltage_v == (230.0, 231.0, 232.0) and reading.frequency_hz == 50.0
    key = await meter.public_key()
    assert bytes.fromhex(key) == emulator.public_key_der
    assert await meter.begin_transaction(REQUEST) is None  # nothing signed at begin
    emulator.energy_wh += 11_000.0
    end = await meter.end_transaction()
    proof = independently_verified(end.data, key)
    assert proof["TT"] == "0.35 EUR/kWh" and proof["ID"] == "04A1B2C3" and proof["CI"] == "CP-7"
    assert proof["RD"][1]["RV"] - proof["RD"][0]["RV"] == pytest.approx(11.0)
    assert emulator.mem[0x7100] == 0  # the read was confirmed
    await meter.stop()


async def test_em580_without_keys_is_refused(serve: Callable[..., Any]) -> None:
    emulator = Em580Emulator()
    emulator.mem[0x24FF] = 2  # no signature keys configured
    meter = Em580Ocmf(await serve(emulator), emulator.device_id, builtin_maps()["em580"], RealClock())
    with pytest.raises(MeterError, match="no signature key"):
        await meter.public_key()


async def test_em580_uncollected_record_is_cleared_before_a_new_begin(serve: Callable[..., Any]) -> None:
    emulator = Em580Emulator()
    meter = Em580Ocmf(await serve(emulator), emulator.device_id, builtin_maps()["em580"], RealClock())
    await meter.begin_transaction(REQUEST)
    await meter.begin_transaction(REQUEST)  # the charger lost the first session's end
    assert emulator.mem[0x7100] == 1
    end = await meter.end_transaction()
    independently_verified(end.data, end.public_key)


async def test_iskra_end_record_is_read_again_by_a_restarted_charger(serve: Callable[..., Any]) -> None:
    emulator = IskraEmulator()
    bus = await serve(emulator)
    first = IskraWm3m4c(bus, emulator.device_id, RealClock())
    await first.begin_transaction(REQUEST)
    assert await first.stored_end() is None  # a transaction is open: nothing stored yet
    await bus.write(emulator.device_id, 7051, [ord("r") << 8])  # the end command, then the charger dies
    again = IskraWm3m4c(bus, emulator.device_id, RealClock())
    held = await again.stored_end()
    assert held is not None
    assert [r["TX"] for r in independently_verified(held.data, held.public_key)["RD"]] == ["B", "E"]
    assert emulator.commands == ["B", "r"]  # read out, not ended twice


async def test_em580_end_record_is_collected_by_a_restarted_charger(serve: Callable[..., Any]) -> None:
    emulator = Em580Emulator()
    bus = await serve(emulator)
    first = Em580Ocmf(bus, emulator.device_id, builtin_maps()["em580"], RealClock())
    await first.begin_transaction(REQUEST)
    assert await first.stored_end() is None
    await bus.write(emulator.device_id, 0x7040, [ord("E")])  # the end command, then the charger dies
    again = Em580Ocmf(bus, emulator.device_id, builtin_maps()["em580"], RealClock())
    held = await again.stored_end()
    assert held is not None
    assert independently_verified(held.data, held.public_key)["TT"] == "0.35 EUR/kWh"
    assert emulator.mem[0x7100] == 0 and await again.stored_end() is None  # confirmed: collected once
