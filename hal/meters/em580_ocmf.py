"""Carlo Gavazzi EM580 (OCMF variant): measurements from the EM340-style map (hal/meters/maps/
carlo-gavazzi-em580.toml), plus the meter's own OCMF file (docs/reference/signed-metering.md §3).
Reads are FC04, writes FC16; addresses are PDU addresses (the manual's 3xxxxx minus 300001).

Begin: identification, charge point id, tariff text and the clock into the meter, command 'B'; the meter
signs nothing yet. End: command 'E', wait for the OCMF state READY, read the file (begin and end reading
in one signed record), confirm by writing NOT_READY.
"""

from __future__ import annotations

import logging
import struct

from hal.clock import Clock
from hal.contract import MeterError
from hal.meters.bus import ModbusBus
from hal.meters.modbus_meter import ModbusMeter
from hal.meters.ocmf_words import poll, read_block, text_to_words, words_to_bytes, words_to_text, write_block
from hal.meters.registermap import MeterMap
from hal.ocmf import SignedRecord, SignedTransactionRequest

log = logging.getLogger(__name__)

SIGNATURE_TYPE = 0x24FF  # 0 = 256-bit key, 1 = 384-bit key, else none
PUBLIC_KEY_DER = 0x2600  # DER SubjectPublicKeyInfo, read as a whole block
PUBLIC_KEY_DER_WORDS = {0: 46, 1: 62}
TARIFF_TEXT = 0x6900  # CHAR[252], NUL-terminated
TARIFF_TEXT_WORDS = 126
ID_STATUS = 0x7000  # 1 = assigned
ID_LEVEL = 0x7001
ID_FLAGS = 0x7002  # four flags
ID_TYPE = 0x7006  # 10 = ISO14443, 0 = NONE
ID_DATA = 0x7007  # CHAR[40]
CP_ID_TYPE = 0x701B  # 0 = EVSEID, 1 = CBIDC
CP_ID = 0x701C  # CHAR[40]
ID_WORDS = 20
TIME_OFFSET = 0x7031  # minutes
UTC_TIME = 0x7032  # INT64 seconds
SESSION_MODALITY = 0x7036  # 0 = charging vehicle
COMMAND = 0x7040  # ASCII command
OCMF_STATE = 0x7100  # 0 not ready, 1 running, 2 ready, 3 corrupted
OCMF_SIZE = 0x7101
OCMF_FILE = 0x7110
OCMF_FILE_MAX_WORDS = 2031

CMD_BEGIN, CMD_END = ord("B"), ord("E")
STATE_NOT_READY, STATE_RUNNING, STATE_READY, STATE_CORRUPTED = 0, 1, 2, 3
FLAG_RFID_PLAIN, FLAG_OCPP_AUTH = 1, 2
TYPE_NONE, TYPE_ISO14443 = 0, 10
READY_TIMEOUT_S = 30.0  # SMV §2.3.1: some meters take up to 30 s to sign


def _chars(text: str, words: int) -> list[int]:
    data = text.encode()[: words * 2 - 1]
    return text_to_words(data.decode(errors="ignore"), terminate=True)


class Em580Ocmf(ModbusMeter):
    """EnergyMeter + SigningMeter for one EM580 with the OCMF register set."""

    def __init__(self, bus: ModbusBus, device_id: int, meter_map: MeterMap, clock: Clock) -> None:
        super().__init__(bus, device_id, meter_map)
        self.clock = clock
        self._public_key: str | None = None

    async def _write(self, address: int, words: list[int]) -> None:
        await write_block(self.bus, self.device_id, address, words)

    async def _word(self, address: int) -> int:
        return (await self.bus.read(self.device_id, 4, address, 1))[0]

    async def public_key(self) -> str:
        if self._public_key is None:
            kind = await self._word(SIGNATURE_TYPE)
            if kind not in PUBLIC_KEY_DER_WORDS:
                raise MeterError(f"EM580 (device {self.device_id}) has no signature key (type {kind}): "
                                 "not an OCMF variant, or not initialised")
            der = words_to_bytes(await read_block(self.bus, self.device_id, 4, PUBLIC_KEY_DER,
                                                  PUBLIC_KEY_DER_WORDS[kind]))
            if der[:1] != b"\x30":
                raise MeterError(f"EM580 (device {self.device_id}): the public key block is not DER")
            self._public_key = der[: 2 + der[1]].hex().upper()
        return self._public_key

    async def begin_transaction(self, request: SignedTransactionRequest) -> SignedRecord | None:
        state = await self._word(OCMF_STATE)
        if state != STATE_NOT_READY:
            # A record nobody collected (e.g. the charger lost power at the end): confirm it to go on.
            log.warning("EM580 (device %d): OCMF state %d before a new transaction; clearing it",
                        self.device_id, state)
            if state == STATE_RUNNING:
                await self._write(COMMAND, [CMD_END])
                await self._wait_ready()
            await self._write(OCMF_STATE, [STATE_NOT_READY])
        await self._write(TIME_OFFSET, [0])
        now = struct.pack(">q", int(self.clock.now().timestamp()))
        await self._write(UTC_TIME, list(struct.unpack(">4H", now)))
        assigned = request.id_tag is not None
        await self._write(ID_STATUS, [1 if assigned else 0])
        await self._write(ID_LEVEL, [0])
        await self._write(ID_FLAGS, [FLAG_RFID_PLAIN, FLAG_OCPP_AUTH, 0, 0] if assigned else [0, 0, 0, 0])
        await self._write(ID_TYPE, [TYPE_ISO14443 if assigned else TYPE_NONE])
        await self._write(ID_DATA, _chars(request.id_tag or "", ID_WORDS))
        await self._write(CP_ID_TYPE, [1])
        await self._write(CP_ID, _chars(request.charge_point_id, ID_WORDS))
        await self._write(TARIFF_TEXT, _chars(request.tariff_text or "", TARIFF_TEXT_WORDS))
        await self._write(SESSION_MODALITY, [0])
        await self._write(COMMAND, [CMD_BEGIN])
        return None  # the EM580 signs begin and end together, at the end

    async def _wait_ready(self) -> None:
        await poll(self.clock, lambda: self._word(OCMF_STATE), lambda s: s == STATE_READY,
                   lambda s: s == STATE_CORRUPTED, READY_TIMEOUT_S, f"EM580 (device {self.device_id}) end")

    async def end_transaction(self) -> SignedRecord:
        state = await self._word(OCMF_STATE)
        if state == STATE_RUNNING:
            await self._write(COMMAND, [CMD_END])
        elif state != STATE_READY:
            raise MeterError(f"EM580 (device {self.device_id}): no transaction open (OCMF state {state})")
        return await self._collect()

    async def stored_end(self) -> SignedRecord | None:
        """A record the meter signed but nobody confirmed (OCMF state READY), confirmed now."""
        return await self._collect() if await self._word(OCMF_STATE) == STATE_READY else None

    async def _collect(self) -> SignedRecord:
        await self._wait_ready()
        size = min(await self._word(OCMF_SIZE), OCMF_FILE_MAX_WORDS)
        if size == 0:
            raise MeterError(f"EM580 (device {self.device_id}): the OCMF file is empty")
        record = words_to_text(await read_block(self.bus, self.device_id, 4, OCMF_FILE, size))
        await self._write(OCMF_STATE, [STATE_NOT_READY])
        return SignedRecord(record, await self.public_key())
