"""Iskra WM3M4C: a three-phase MID meter that signs OCMF datasets itself (docs/reference/signed-metering.md
§2). Measurements are input registers in Iskra's T5/T6 formats; the signing registers are holding
registers. Addresses here are PDU addresses = the manual's "MODBUS address" 4xxxx minus 40000.

Begin: set the meter's clock, write the billing dataset (the OCMF payload without readings), command 'B',
wait for signature status OK, read the signed dataset and signature. End: command 'r' (one dataset with
the begin and the end reading), same read-out.
"""

from __future__ import annotations

import logging

from hal.clock import Clock
from hal.contract import MeterError
from hal.meters.bus import ModbusBus
from hal.meters.ocmf_words import (
    minimal_der_signature,
    poll,
    read_block,
    text_to_words,
    words_to_bytes,
    words_to_text,
    write_block,
)
from hal.ocmf import P256_SPKI_PREFIX, SignedRecord, SignedTransactionRequest, assemble, payload_json
from hal.types import MeterReading

log = logging.getLogger(__name__)

# Measurements (FC04)
FREQUENCY = 105
VOLTAGE = (107, 109, 111)
CURRENT = (126, 128, 130)
POWER_TOTAL = 140
POWER = (142, 144, 146)
ENERGY_IMPORT_EXPONENT = 414
ENERGY_IMPORT = 418
# Signing (FC03 read, FC16 write)
STATE = 7000  # 0 idle, 1 active, 2 active after power failure, 3 active after reset
COMMAND = 7051  # command in the high byte
SIGNATURE_STATUS = 7052  # 15 = signature OK
TIME_OFFSET = 7053  # minutes east of UTC
TIME_HIGH, TIME_LOW = 7054, 7055  # UTC seconds since 1970
DATASET_LENGTH = 7056  # bytes
OUTPUT_LENGTH = 7057  # bytes of the JSON output dataset
SIGNATURE_LENGTH = 7058  # bytes
ALGORITHM = 7060  # 4 = ECDSA-secp256r1-SHA256
TIME_STATUS = 7071  # 2 = synchronised
DATASET = 7100  # billing dataset written by the charger, at most 1024 bytes
OUTPUT = 7612  # signed JSON output dataset
PUBLIC_KEY = 8124  # 64 bytes: X || Y of the P-256 key
SIGNATURE = 8188  # DER ECDSA signature

STATE_IDLE = 0
CMD_BEGIN = ord("B") << 8
CMD_END_WITH_BEGIN = ord("r") << 8
STATUS_OK = 15
STATUS_BUSY = (0, 1, 2)  # not initialised, idle, in progress: keep polling
ALGORITHM_P256 = 4
MAX_DATASET_BYTES = 1024
SIGN_TIMEOUT_S = 15.0


def t5(words: list[int]) -> float:
    """Unsigned 24-bit value with a signed decade exponent in the top byte."""
    exponent = (words[0] >> 8) - 256 if words[0] >> 8 >= 128 else words[0] >> 8
    return float(((words[0] & 0xFF) << 16) | words[1]) * 10.0**exponent


def t6(words: list[int]) -> float:
    """Signed 24-bit value with a signed decade exponent in the top byte."""
    exponent = (words[0] >> 8) - 256 if words[0] >> 8 >= 128 else words[0] >> 8
    value = ((words[0] & 0xFF) << 16) | words[1]
    if value & 0x800000:
        value -= 1 << 24
    return float(value) * 10.0**exponent


def _int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def _int32(words: list[int]) -> int:
    value = (words[0] << 16) | words[1]
    return value - (1 << 32) if value & 0x80000000 else value


class IskraWm3m4c:
    """EnergyMeter + SigningMeter for one WM3M4C on a Modbus bus."""

    name = "Iskra WM3M4C"

    def __init__(self, bus: ModbusBus, device_id: int, clock: Clock, *, gateway: str = "chargepi") -> None:
        self.bus = bus
        self.device_id = device_id
        self.clock = clock
        self.gateway = gateway
        self._public_key: str | None = None
        self._request: SignedTransactionRequest | None = None

    async def start(self) -> None:
        self.bus.acquire()
        try:
            await self.public_key()
        except MeterError as exc:  # not fatal here: begin_transaction reports it
            log.warning("%s (device %d): cannot read the public key: %s", self.name, self.device_id, exc)

    async def stop(self) -> None:
        self.bus.release()

    async def _read(self, fc: int, address: int, count: int) -> list[int]:
        return await read_block(self.bus, self.device_id, fc, address, count)

    async def read(self) -> MeterReading:
        low = await self._read(4, FREQUENCY, POWER[2] + 2 - FREQUENCY)
        energy = await self._read(4, ENERGY_IMPORT_EXPONENT, ENERGY_IMPORT + 2 - ENERGY_IMPORT_EXPONENT)

        def at(address: int) -> list[int]:
            return low[address - FREQUENCY : address - FREQUENCY + 2]

        exponent = _int16(energy[0])
        counter = _int32(energy[ENERGY_IMPORT - ENERGY_IMPORT_EXPONENT :][:2])
        return MeterReading(
            energy_import_wh=round(counter * 10.0**exponent, 3),
            voltage_v=tuple(round(t5(at(a)), 4) for a in VOLTAGE),
            current_a=tuple(round(t6(at(a)), 4) for a in CURRENT),
            power_w=tuple(round(t6(at(a)), 4) for a in POWER),
            frequency_hz=t5(at(FREQUENCY)),
            power_total_w=t6(at(POWER_TOTAL)),
        )

    async def public_key(self) -> str:
        if self._public_key is None:
            words = await self._read(3, PUBLIC_KEY, 32)
            self._public_key = P256_SPKI_PREFIX + words_to_bytes(words).hex().upper()
        return self._public_key

    async def _state(self) -> int:
        return (await self._read(3, STATE, 1))[0]

    async def _set_clock(self) -> None:
        now = int(self.clock.now().timestamp())
        await self.bus.write(self.device_id, TIME_OFFSET, [0])
        await self.bus.write(self.device_id, TIME_HIGH, [(now >> 16) & 0xFFFF, now & 0xFFFF])
        await self.bus.write(self.device_id, TIME_STATUS, [2])

    async def _write_dataset(self, request: SignedTransactionRequest) -> None:
        # The WM3M4C's dataset is OCMF 1.0 (no TT field): the tariff text cannot be signed by this meter.
        dataset = {
            "FV": "1.0", "GI": self.gateway, "GS": request.charge_point_id, "PG": "",
            "IS": request.id_tag is not None,
            "IF": ["RFID_PLAIN", "OCPP_AUTH"] if request.id_tag else ["RFID_NONE", "OCPP_NONE"],
            "IT": "ISO14443" if request.id_tag else "NONE", "ID": request.id_tag or "",
            "CT": "CBIDC", "CI": request.charge_point_id, "RD": [],
        }
        text = payload_json(dataset)
        if len(text.encode()) > MAX_DATASET_BYTES:
            raise MeterError(f"{self.name}: the billing dataset is longer than {MAX_DATASET_BYTES} bytes")
        await write_block(self.bus, self.device_id, DATASET, text_to_words(text))
        await self.bus.write(self.device_id, DATASET_LENGTH, [len(text.encode())])

    async def _command(self, command: int, what: str) -> SignedRecord:
        await self.bus.write(self.device_id, COMMAND, [command])
        return await self._signed(what)

    async def _signed(self, what: str) -> SignedRecord:
        async def status() -> int:
            return (await self._read(3, SIGNATURE_STATUS, 1))[0]

        await poll(self.clock, status, lambda s: s == STATUS_OK, lambda s: s not in STATUS_BUSY,
                   SIGN_TIMEOUT_S, f"{self.name} {what}")
        return await self._read_out()

    async def _read_out(self) -> SignedRecord:
        out_len, sig_len = await self._read(3, OUTPUT_LENGTH, 2)
        payload = words_to_text(await self._read(3, OUTPUT, (out_len + 1) // 2))[:out_len]
        signature = words_to_bytes(await self._read(3, SIGNATURE, (sig_len + 1) // 2))[:sig_len]
        record = assemble(payload, minimal_der_signature(signature).hex())
        return SignedRecord(record, await self.public_key())

    async def begin_transaction(self, request: SignedTransactionRequest) -> SignedRecord | None:
        state = await self._state()
        if state != STATE_IDLE:
            log.warning("%s: a transaction is still open (state %d): ending it", self.name, state)
            await self._command(CMD_END_WITH_BEGIN, "end of a stale transaction")
        self._request = request
        await self._set_clock()
        await self.bus.write(self.device_id, ALGORITHM, [ALGORITHM_P256])
        await self._write_dataset(request)
        return await self._command(CMD_BEGIN, "begin")

    async def end_transaction(self) -> SignedRecord:
        state = await self._state()
        if state == STATE_IDLE:
            raise MeterError(f"{self.name}: no transaction is open in the meter")
        if state == 2:  # after a power failure the meter needs its clock and dataset again (manual §6.6)
            await self._set_clock()
            if self._request is not None:
                await self._write_dataset(self._request)
        return await self._command(CMD_END_WITH_BEGIN, "end")

    async def stored_end(self) -> SignedRecord | None:
        """The output dataset is read from the same registers after the end (assumed to stay there until the
        next command - not verified on a real meter, see the reference): with the meter idle
        and the last dataset an end ('r': its last reading is TX "E"), that dataset."""
        if await self._state() != STATE_IDLE or (await self._read(3, SIGNATURE_STATUS, 1))[0] != STATUS_OK:
            return None
        record = await self._read_out()
        readings = record.readings
        return record if readings and readings[-1].get("TX") == "E" else None
