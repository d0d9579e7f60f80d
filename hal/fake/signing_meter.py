"""The simulator's signing meter: the simulated meter's readings, signed as OCMF with a fixed TEST key,
so the whole signed-metering chain (snapshot at begin and end, storage, OCPP, verification) runs in CI.

The key is public knowledge (it is in this file): a record it signed proves nothing to anyone. Real
signing meters keep their private key in a crypto chip (docs/signed-metering.md).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from hal.clock import Clock
from hal.contract import EnergyMeter, MeterError
from hal.fake.world import ConnectorWorld
from hal.ocmf import SignedRecord, SignedTransactionRequest, public_key_hex, sign
from hal.types import MeterReading

# Any scalar below the P-256 order makes a valid key; this one is for tests and demos only.
TEST_KEY_SCALAR = 0x6368617267657069_2D746573742D6B65_792D6E6F742D666F_722D62696C6C696E


def test_private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.derive_private_key(TEST_KEY_SCALAR, ec.SECP256R1())


def ocmf_time(when: datetime) -> str:
    """OCMF TM: local time with milliseconds and offset, then the clock status (S = synchronised)."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S,") + f"{when.microsecond // 1000:03d}" + when.strftime("%z")
    return f"{text} S"


class SimulatedSigningMeter:
    """Wraps the connector's simulated meter; signs the import register at begin ('B') and end ('E').

    Its memory (page counter, the open transaction, the last end record and when its signature is done)
    lives in the simulated world (`world.signing`), which outlives the controller process like a real
    meter's does: a controller killed between the end command and the read-out finds the record at its
    next start (`stored_end`). The end signature takes `sign_time_s` (real meters: up to 30 s)."""

    def __init__(self, meter: EnergyMeter, world: ConnectorWorld, clock: Clock, serial: str,
                 sign_time_s: float = 0.0) -> None:
        self._meter = meter
        self._world = world
        self._clock = clock
        self._serial = serial
        self._sign_time_s = sign_time_s
        self._key = test_private_key()

    async def start(self) -> None:
        await self._meter.start()

    async def stop(self) -> None:
        await self._meter.stop()

    async def read(self) -> MeterReading:
        return await self._meter.read()

    async def public_key(self) -> str:
        return public_key_hex(self._key.public_key())

    @property
    def _memory(self) -> dict[str, Any]:
        return dict(self._world.signing or {"pages": 0, "open": None, "end": None})

    def _remember(self, memory: dict[str, Any]) -> None:
        def store() -> None:
            self._world.signing = memory

        self._world.change(store)

    async def _reading(self, kind: str) -> dict[str, Any]:
        energy = (await self._meter.read()).energy_import_wh
        return {"TM": ocmf_time(self._clock.now()), "TX": kind, "RV": round(energy / 1000.0, 3),
                "RI": "1-b:1.8.0", "RU": "kWh", "RT": "AC", "EF": "", "ST": "G"}

    def _record(self, memory: dict[str, Any], request: dict[str, Any], readings: list[dict[str, Any]],
                ) -> SignedRecord:
        memory["pages"] += 1
        id_tag, charge_point_id = request["id_tag"], request["charge_point_id"]
        payload = {
            "FV": "1.0", "GI": "chargepi", "GS": charge_point_id, "GV": "", "PG": f"T{memory['pages']}",
            "MV": "chargepi", "MM": "simulated signing meter", "MS": self._serial, "MF": "sim",
            "IS": id_tag is not None,
            "IF": ["RFID_PLAIN", "OCPP_AUTH"] if id_tag else ["RFID_NONE", "OCPP_NONE"],
            "IT": "ISO14443" if id_tag else "NONE", "ID": id_tag or "",
            "CT": "CBIDC", "CI": charge_point_id, "TT": request["tariff_text"] or "", "RD": readings,
        }
        return SignedRecord(sign(payload, self._key), public_key_hex(self._key.public_key()))

    async def begin_transaction(self, request: SignedTransactionRequest) -> SignedRecord | None:
        memory = self._memory
        begin = await self._reading("B")
        memory["open"] = {"request": asdict(request), "begin": begin}
        record = self._record(memory, memory["open"]["request"], [begin])
        self._remember(memory)
        return record

    async def end_transaction(self) -> SignedRecord:
        memory = self._memory
        transaction = memory["open"]
        if transaction is None:
            raise MeterError("simulated signing meter: no transaction is open")
        end = await self._reading("E")
        record = self._record(memory, transaction["request"], [transaction["begin"], end])
        memory["open"] = None
        memory["end"] = {"data": record.data, "ready_at": self._clock.now().timestamp() + self._sign_time_s}
        self._remember(memory)
        return await self._signature(memory["end"])

    async def stored_end(self) -> SignedRecord | None:
        memory = self._memory
        if memory["open"] is not None or memory["end"] is None:
            return None
        return await self._signature(memory["end"])

    async def _signature(self, end: dict[str, Any]) -> SignedRecord:
        """The end record once its signature is done (the meter signs on, whoever waits for it)."""
        await self._clock.sleep(float(end["ready_at"]) - self._clock.now().timestamp())
        return SignedRecord(str(end["data"]), public_key_hex(self._key.public_key()))
