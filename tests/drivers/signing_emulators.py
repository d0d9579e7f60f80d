"""Test support: pymodbus server emulations of the two OCMF signing meters (Iskra WM3M4C, Carlo Gavazzi
EM580), built from the register facts in docs/reference/signed-metering.md, not from the drivers' code.
Each signs with its own key through `cryptography` directly, so a test can verify the drivers' records
independently of chargepi's OCMF code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pymodbus.simulator import DataType, SimData, SimDevice


def _words(data: bytes) -> list[int]:
    if len(data) % 2:
        data += b"\x00"
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _bytes(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(2, "big") for w in words)


class _Emulator:
    """One shared register memory for FC03/FC04 reads and FC16 writes; subclasses react to writes."""

    SPAN = (0, 0x10)

    def __init__(self, device_id: int) -> None:
        self.device_id = device_id
        self.mem: dict[int, int] = {}
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.energy_wh = 1_234_500.0
        self.writes: list[tuple[int, list[int]]] = []

    @property
    def public_key_der(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def put(self, address: int, words: list[int]) -> None:
        for i, w in enumerate(words):
            self.mem[address + i] = w

    def get(self, address: int, count: int) -> list[int]:
        return [self.mem.get(address + i, 0) for i in range(count)]

    def text(self, address: int, max_words: int) -> str:
        return _bytes(self.get(address, max_words)).split(b"\x00", 1)[0].decode()

    def sign(self, payload: dict[str, Any]) -> tuple[str, bytes]:
        text = json.dumps(payload, separators=(",", ":"))
        return text, self.key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))

    def reading(self, kind: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S,000+0000")
        return {"TM": f"{now} S", "TX": kind, "RV": round(self.energy_wh / 1000, 3), "RI": "1-b:1.8.0",
                "RU": "kWh", "RT": "AC", "ST": "G"}

    def refresh(self) -> None:
        """Put the measurement registers in memory."""

    def on_write(self, address: int, words: list[int]) -> None:
        """React to a write (a command)."""

    def sim_device(self) -> SimDevice:
        low, high = self.SPAN
        regs = [SimData(address=low, values=[0] * (high - low), datatype=DataType.REGISTERS)]
        bits = [SimData(address=0xFFFF, values=False, datatype=DataType.BITS)]
        return SimDevice(id=self.device_id, simdata=(bits, bits, regs, list(regs)), action=self._action)

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: Any) -> None:
        if set_values:
            values = [int(v) for v in (set_values if isinstance(set_values, list) else [set_values])]
            self.put(address, values)
            self.writes.append((address, values))
            self.on_write(address, values)
            return
        self.refresh()
        for i in range(count):
            registers[address - start_address + i] = self.mem.get(address + i, 0)


def _t(value: float, exponent: int) -> list[int]:
    raw = round(value / 10**exponent) & 0xFFFFFF
    return [((exponent & 0xFF) << 8) | (raw >> 16), raw & 0xFFFF]


class IskraEmulator(_Emulator):
    """WM3M4C: holding registers 7000 state, 7051 command, 7052 status, 7056-7058 lengths, 7100 dataset,
    7612 output, 8124 public key, 8188 signature; measurements in T5/T6 and a 32-bit counter."""

    SPAN = (0, 8400)

    def __init__(self, device_id: int = 33, *, pad_signature: bool = False) -> None:
        super().__init__(device_id)
        self.pad_signature = pad_signature  # the firmware fault: superfluous leading zeros in r and s
        self.begin: dict[str, Any] | None = None
        self.mem[7000] = 0
        self.mem[7052] = 1
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        self.put(8124, _words(point[1:]))
        self.commands: list[str] = []

    def refresh(self) -> None:
        self.put(105, _t(50.0, -2))
        for i, a in enumerate((107, 109, 111)):
            self.put(a, _t(230.0 + i, -2))
        for a in (126, 128, 130):
            self.put(a, _t(16.0, -3))
        self.put(140, _t(11040.0, 0))
        for a in (142, 144, 146):
            self.put(a, _t(3680.0, 0))
        self.mem[414] = 0  # exponent: Wh
        self.put(418, [(int(self.energy_wh) >> 16) & 0xFFFF, int(self.energy_wh) & 0xFFFF])

    def _der(self, signature: bytes) -> bytes:
        if not self.pad_signature:
            return signature
        r, s = decode_dss_signature(signature)
        parts = b""
        for n in (r, s):
            body = b"\x00" * 2 + n.to_bytes(32, "big")
            parts += bytes([0x02, len(body)]) + body
        return bytes([0x30, len(parts)]) + parts

    def on_write(self, address: int, words: list[int]) -> None:
        if address != 7051:
            return
        command = chr(words[0] >> 8)
        self.commands.append(command)
        state = self.mem[7000]
        if (command == "B") != (state == 0) or command not in "Br":
            self.mem[7052] = 131  # invalid state
            return
        dataset = json.loads(_bytes(self.get(7100, (self.mem[7056] + 1) // 2))[: self.mem[7056]])
        if command == "B":
            self.begin = self.reading("B")
            readings = [self.begin]
            self.mem[7000] = 1
        else:
            readings = [self.begin or {}, self.reading("E")]
            self.mem[7000] = 0
        payload = {**dataset, "MV": "Iskra", "MM": "WM3M4C", "MS": "79990001", "MF": "1.0",
                   "PG": f"T{len(self.commands)}", "RD": readings}
        text, signature = self.sign(payload)
        der = self._der(signature)
        self.put(7612, _words(text.encode()))
        self.mem[7057] = len(text.encode())
        self.put(8188, _words(der))
        self.mem[7058] = len(der)
        self.mem[7052] = 15


class Em580Emulator(_Emulator):
    """EM580: 24FFh key type, 2600h DER key, 6900h tariff text, 7000h-702Fh identification, 7040h command,
    7100h state, 7101h size, 7110h OCMF file; EM340-style measurements (INT32, low word first)."""

    SPAN = (0, 0x7900)

    def __init__(self, device_id: int = 1) -> None:
        super().__init__(device_id)
        self.mem[0x24FF] = 0
        self.put(0x2600, _words(self.public_key_der))
        self.mem[0x7100] = 0
        self.begin: dict[str, Any] | None = None

    def refresh(self) -> None:
        def int32(value: float) -> list[int]:
            raw = round(value) & 0xFFFFFFFF
            return [raw & 0xFFFF, raw >> 16]

        for i, a in enumerate((0x00, 0x02, 0x04)):
            self.put(a, int32((230.0 + i) * 10))
        for a in (0x0C, 0x0E, 0x10):
            self.put(a, int32(16_000))
        for a in (0x12, 0x14, 0x16):
            self.put(a, int32(36_800))
        self.put(0x28, int32(110_400))
        self.mem[0x33] = 500
        self.put(0x34, int32(self.energy_wh / 100))

    def on_write(self, address: int, words: list[int]) -> None:
        if address == 0x7040 and words[0] == ord("B") and self.mem[0x7100] == 0:
            self.begin = self.reading("B")
            self.mem[0x7100] = 1
        elif address == 0x7040 and words[0] == ord("E") and self.mem[0x7100] == 1:
            payload = {
                "FV": "1.0", "GI": "", "GS": "", "GV": "", "PG": "T1", "MV": "Carlo Gavazzi", "MM": "EM580",
                "MS": "KY1234567.2025", "MF": "1.2.3", "IS": self.mem[0x7000] == 1,
                "IT": "ISO14443" if self.mem[0x7006] == 10 else "NONE", "ID": self.text(0x7007, 20),
                "CT": "CBIDC" if self.mem[0x701B] == 1 else "EVSEID", "CI": self.text(0x701C, 20),
                "TT": self.text(0x6900, 126), "RD": [self.begin or {}, self.reading("E")],
            }
            text, signature = self.sign(payload)
            record = f"OCMF|{text}|" + json.dumps({"SD": signature.hex().upper()})
            words = _words(record.encode() + b"\x00")
            self.put(0x7110, words)
            self.mem[0x7101] = len(words)
            self.mem[0x7100] = 2
