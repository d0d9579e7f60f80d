"""Fixtures for the hardware driver tests: gpiozero's MockFactory with PWM-capable pins."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    """A fresh mock pin factory as gpiozero's default (the drivers use the default factory)."""
    previous = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous
    gc.collect()  # gpiozero caches shared SPI buses by pin in weak references: drop this test's
