"""The simulator's signing meter: the simulated meter's readings, signed as OCMF with a fixed TEST key,
so the whole signed-metering chain (snapshot at begin and end, storage, OCPP, verification) runs in CI.

The key is public knowledge (it is in this file): a record it signed proves nothing to anyone. Real
signing meters keep their private key in a crypto chip (docs/signed-metering.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hal.clock import Clock
from hal.contract import EnergyMeter, MeterError
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
    """Wraps the connector's simulated meter; signs the import register at begin ('B') and end ('E')."""

    def __init__(self, meter: EnergyMeter, clock: Clock, serial: str) -> None:
        self._meter = meter
        self._clock = clock
        self._serial = serial
        self._key = test_private_key()
        self._pages = 0
        self._request: SignedTransactionRequest | None = None
        self._begin: dict[str, Any] | None = None

    async def start(self) -> None:
        await self._meter.start()

    async def stop(self) -> None:
        await self._meter.stop()

    async def read(self) -> MeterReading:
        return await self._meter.read()

    async def public_key(self) -> str:
        return public_key_hex(self._key.public_key())

    async def _reading(self, kind: str) -> dict[str, Any]:
        energy = (await self._meter.read()).energy_import_wh
        return {"TM": ocmf_time(self._clock.now()), "TX": kind, "RV": round(energy / 1000.0, 3),
                "RI": "1-b:1.8.0", "RU": "kWh", "RT": "AC", "EF": "", "ST": "G"}

    def _record(self, readings: list[dict[str, Any]]) -> SignedRecord:
        request = self._request
        assert request is not None
        self._pages += 1
        payload = {
            "FV": "1.0", "GI": "chargepi", "GS": request.charge_point_id, "GV": "", "PG": f"T{self._pages}",
            "MV": "chargepi", "MM": "simulated signing meter", "MS": self._serial, "MF": "sim",
            "IS": request.id_tag is not None,
            "IF": ["RFID_PLAIN", "OCPP_AUTH"] if request.id_tag else ["RFID_NONE", "OCPP_NONE"],
            "IT": "ISO14443" if request.id_tag else "NONE", "ID": request.id_tag or "",
            "CT": "CBIDC", "CI": request.charge_point_id, "TT": request.tariff_text or "", "RD": readings,
        }
        return SignedRecord(sign(payload, self._key), public_key_hex(self._key.public_key()))

    async def begin_transaction(self, request: SignedTransactionRequest) -> SignedRecord | None:
        self._request = request
        self._begin = await self._reading("B")
        return self._record([self._begin])

    async def end_transaction(self) -> SignedRecord:
        if self._begin is None:
            raise MeterError("simulated signing meter: no transaction is open")
        end = await self._reading("E")
        record = self._record([self._begin, end])
        self._begin = None
        return record
