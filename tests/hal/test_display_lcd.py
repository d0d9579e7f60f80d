"""The HD44780 + PCF8574 display driver (RPLCD) against a fake I²C bus that decodes the bytes written
into the controller's memory: what a driver would see on the glass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.display import DisplayContent, DriverDisplay
from hal.display_lcd import Hd44780Display
from tests.hal.fake_i2c import FakeSMBus, Hd44780OnPcf8574


@pytest.fixture
def glass(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hd44780OnPcf8574]:
    import RPLCD.i2c

    device = Hd44780OnPcf8574(20, 4)
    monkeypatch.setattr(RPLCD.i2c, "SMBus", FakeSMBus)
    FakeSMBus.devices = {(1, 0x27): device}
    yield device
    FakeSMBus.devices = {}


async def test_lines_reach_the_glass(glass: Hd44780OnPcf8574) -> None:
    lcd = Hd44780Display(bus=1, address=0x27, columns=20, rows=4)
    assert isinstance(lcd, DriverDisplay)
    await lcd.start()
    lcd.show(DisplayContent(("Charging", "3.25 kWh", "EUR 1.14", "a line longer than twenty")))
    assert lcd.flush()
    assert glass.text() == ["Charging", "3.25 kWh", "EUR 1.14", "a line longer than t"]
    assert glass.backlight
    lcd.show(DisplayContent(("Thank you",), qr_text="https://pay.example/r/1"))
    assert lcd.flush()
    assert glass.text() == ["Thank you", "https://pay.example/", "", ""]  # no QR: the link as text
    await lcd.stop()
    assert glass.text() == ["", "", "", ""]  # cleared on stop


async def test_umlauts_use_the_a00_rom(glass: Hd44780OnPcf8574) -> None:
    lcd = Hd44780Display(bus=1, address=0x27, columns=20, rows=4, charmap="A00")
    await lcd.start()
    lcd.show(DisplayContent(("Ladevorgang läuft",)))
    assert lcd.flush()
    assert glass.screen()[0][:17] == b"Ladevorgang l\xe1uft"  # ä is 0xE1 in the A00 character ROM
    await lcd.stop()


async def test_a_bus_error_is_counted_and_the_next_content_still_shown(glass: Hd44780OnPcf8574) -> None:
    lcd = Hd44780Display(bus=1, address=0x27, columns=20, rows=4)
    await lcd.start()
    glass.fail = True
    lcd.show(DisplayContent(("lost",)))
    assert lcd.flush()
    assert lcd.failures == 1
    lcd.show(DisplayContent(("back",)))
    assert lcd.flush()
    assert glass.text()[0] == "back"
    await lcd.stop()


async def test_a_16x2_display_gets_two_cut_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import RPLCD.i2c

    small = Hd44780OnPcf8574(16, 2)
    monkeypatch.setattr(RPLCD.i2c, "SMBus", FakeSMBus)
    FakeSMBus.devices = {(0, 0x3F): small}
    lcd = Hd44780Display(bus=0, address=0x3F, columns=16, rows=2)
    await lcd.start()
    lcd.show(DisplayContent(("Price 0.35 EUR/kWh", "Plug in", "third")))
    assert lcd.flush()
    assert small.text() == ["Price 0.35 EUR/k", "Plug in"]
    await lcd.stop()
    FakeSMBus.devices = {}


def test_the_config_builds_the_lcd_driver(tmp_path: Path) -> None:
    from firmware.settings import load_settings
    from hal.clock import SimClock
    from hal.factory import build_station_hardware

    display = {"driver": "hd44780-i2c", "bus": 1, "address": 0x3F, "columns": 16, "rows": 2}
    settings = load_settings(None, station={"state_dir": str(tmp_path)},
                             connectors=[{"id": 1, "hal": {"display": display}}])
    hardware, _ = build_station_hardware(settings, SimClock())
    lcd = hardware.connectors[0].display
    assert isinstance(lcd, Hd44780Display)
    assert (lcd.bus, lcd.address, lcd.columns, lcd.rows, lcd.charmap) == (1, 0x3F, 16, 2, "A00")
