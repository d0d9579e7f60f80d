"""RFID readers: a serial reader on a pseudo terminal, a HID keyboard reader on a FIFO carrying raw
Linux input_event records, UID formats and repeat suppression."""

from __future__ import annotations

import os
import queue
import tty
from pathlib import Path

import pytest

from hal.clock import SimClock
from hal.rfid.hid_reader import EV_KEY, EVENT, HidTokenReader
from hal.rfid.serial_reader import SerialTokenReader
from hal.rfid.uid import format_uid, uid_bytes_from_decimal, uid_bytes_from_text


@pytest.mark.parametrize(
    ("line", "uid"),
    [
        ("04A2B3C4D5E6F7", "04A2B3C4D5E6F7"),
        ("UID: 04:a2:b3:c4", "04A2B3C4"),
        ("\x02DEADBEEF\x03", "DEADBEEF"),
        ("card 12-34-56-78 ok", "12345678"),
        ("hello", None),
        ("ABC", None),
    ],
)
def test_uid_from_a_text_line(line: str, uid: str | None) -> None:
    found = uid_bytes_from_text(line)
    assert (found.hex().upper() if found else None) == uid


def test_uid_formats() -> None:
    uid = bytes.fromhex("04A2B3C4")
    assert format_uid(uid, "upper", False) == "04A2B3C4"
    assert format_uid(uid, "lower", True) == "c4b3a204"
    assert uid_bytes_from_decimal("0001234567") == (1234567).to_bytes(4, "big")
    assert uid_bytes_from_decimal("12ab") is None


async def test_serial_reader_on_a_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    clock = SimClock()
    reader = SerialTokenReader(
        os.ttyname(slave), 9600, clock, case="upper", reverse_bytes=True, debounce_s=2.0
    )
    got: queue.Queue[str] = queue.Queue()
    reader.subscribe(got.put)
    await reader.start()
    try:
        os.write(master, b"UID:04A2B3C4\r\n")
        assert got.get(timeout=3) == "C4B3A204"
        os.write(master, b"04A2B3C4\r\n")  # the same card still on the reader
        await clock.advance(1.0)
        os.write(master, b"11223344\n")
        assert got.get(timeout=3) == "44332211"
        await clock.advance(3.0)
        os.write(master, b"04A2B3C4\r\n")  # presented again later: accepted
        assert got.get(timeout=3) == "C4B3A204"
        assert got.empty()
    finally:
        await reader.stop()
        os.close(master)
        os.close(slave)


def key_events(text: str, *, decimal: bool = False) -> bytes:
    codes = {
        "1": 2,
        "2": 3,
        "3": 4,
        "4": 5,
        "5": 6,
        "6": 7,
        "7": 8,
        "8": 9,
        "9": 10,
        "0": 11,
        "A": 30,
        "B": 48,
        "C": 46,
        "D": 32,
        "E": 18,
        "F": 33,
    }
    out = b""
    for ch in [*text, "\n"]:
        code = 28 if ch == "\n" else codes[ch]
        for value in (1, 0):  # press, release (plus a sync event, ignored)
            out += EVENT.pack(0, 0, EV_KEY, code, value) + EVENT.pack(0, 0, 0, 0, 0)
    return out


async def test_hid_keyboard_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "event0"
    os.mkfifo(fifo)
    clock = SimClock()
    reader = HidTokenReader(str(fifo), clock, digits="decimal", case="lower", debounce_s=2.0)
    got: queue.Queue[str] = queue.Queue()
    reader.subscribe(got.put)
    await reader.start()
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, key_events("0012345678"))  # 12345678 = 0x00BC614E
        assert got.get(timeout=3) == "00bc614e"
        os.write(writer, key_events("0012345678") + key_events("0000000255"))  # repeat, then another card
        assert got.get(timeout=3) == "000000ff"
        await clock.advance(5.0)
        os.write(writer, key_events("0012345678"))
        assert got.get(timeout=3) == "00bc614e"
        assert got.empty()
    finally:
        os.close(writer)
        await reader.stop()


async def test_missing_readers_do_not_stop_the_charger(tmp_path: Path) -> None:
    hid = HidTokenReader(str(tmp_path / "event9"), SimClock())
    await hid.start()  # no exception: the controller must still charge
    assert hid.last_error is not None and "input` group" in hid.last_error
    await hid.stop()
    serial_reader = SerialTokenReader(str(tmp_path / "ttyNOPE"), 9600, SimClock())
    await serial_reader.start()
    assert serial_reader.last_error is not None and "ttyNOPE" in serial_reader.last_error
    await serial_reader.stop()


async def test_hid_reader_plugged_in_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hal.rfid.hid_reader.REOPEN_S", 0.05)
    fifo = tmp_path / "event1"
    reader = HidTokenReader(str(fifo), SimClock())
    got: queue.Queue[str] = queue.Queue()
    reader.subscribe(got.put)
    await reader.start()
    assert reader.last_error is not None
    os.mkfifo(fifo)  # the reader appears
    writer = os.open(fifo, os.O_WRONLY)  # blocks until the reader thread has opened it
    try:
        os.write(writer, key_events("DEADBEEF"))
        assert got.get(timeout=3) == "DEADBEEF"
        assert reader.last_error is None
    finally:
        os.close(writer)
        await reader.stop()


def test_hid_hex_reader_keys() -> None:
    hex_reader = HidTokenReader("/dev/input/event-unused", SimClock(), digits="hex")
    got: list[str] = []
    hex_reader.subscribe(got.append)
    for chunk in (key_events("04A2B3C4"),):
        for i in range(0, len(chunk), EVENT.size):
            _, _, ev_type, code, value = EVENT.unpack_from(chunk, i)
            hex_reader.handle_event(ev_type, code, value)
    assert got == ["04A2B3C4"]
