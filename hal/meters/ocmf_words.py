"""Register-level helpers the signing-meter drivers share: text and bytes in 16-bit registers (high byte
first), chunked reads and writes, polling a status register on the injected clock, and DER signatures
made minimal (docs/reference/signed-metering.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hal.clock import Clock
from hal.contract import MeterError
from hal.meters.bus import ModbusBus


def text_to_words(text: str, terminate: bool = False) -> list[int]:
    data = text.encode() + (b"\x00" if terminate else b"")
    if len(data) % 2:
        data += b"\x00"
    return [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]


def words_to_bytes(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(2, "big") for w in words)


def words_to_text(words: list[int]) -> str:
    return words_to_bytes(words).split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()


async def read_block(bus: ModbusBus, device_id: int, fc: int, address: int, count: int,
                     chunk: int = 120) -> list[int]:
    words: list[int] = []
    for offset in range(0, count, chunk):
        words += await bus.read(device_id, fc, address + offset, min(chunk, count - offset))
    return words


async def write_block(bus: ModbusBus, device_id: int, address: int, words: list[int],
                      chunk: int = 120) -> None:
    for offset in range(0, len(words), chunk):
        await bus.write(device_id, address + offset, words[offset : offset + chunk])


async def poll(clock: Clock, read: Callable[[], Awaitable[int]], done: Callable[[int], bool],
               failed: Callable[[int], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> int:
    """Read a status register until `done`; MeterError on `failed` or after `timeout_s`."""
    deadline = clock.monotonic() + timeout_s
    while True:
        value = await read()
        if done(value):
            return value
        if failed(value):
            raise MeterError(f"{what}: the meter reports status {value}")
        if clock.monotonic() >= deadline:
            raise MeterError(f"{what}: no result after {timeout_s:g} s (status {value})")
        await clock.sleep(interval_s)


def minimal_der_signature(raw: bytes) -> bytes:
    """Re-encodes an ECDSA DER signature whose INTEGERs carry superfluous leading zeros (an Iskra firmware
    fault, see the reference) as strict DER; raises MeterError for anything that is not r/s."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        if raw[0] != 0x30:
            raise ValueError("no SEQUENCE")
        pos = 2
        numbers = []
        for _ in range(2):
            if raw[pos] != 0x02:
                raise ValueError("no INTEGER")
            length = raw[pos + 1]
            numbers.append(int.from_bytes(raw[pos + 2 : pos + 2 + length], "big"))
            pos += 2 + length
    except (IndexError, ValueError) as exc:
        raise MeterError(f"the meter's signature is not an ECDSA DER signature: {exc}") from None
    return encode_dss_signature(numbers[0], numbers[1])
