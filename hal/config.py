"""Configuration models for choosing and setting up a driver per hardware part (by name)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DriverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FakeDriver(DriverConfig):
    """The simulated part (see hal.fake): for tests, demos and CI."""

    driver: Literal["fake"] = "fake"


class ConnectorHalConfig(DriverConfig):
    """Which driver runs each part of one connector. Optional parts may be "none"."""

    pilot: FakeDriver = Field(default_factory=FakeDriver)
    contactor: FakeDriver = Field(default_factory=FakeDriver)
    meter: FakeDriver = Field(default_factory=FakeDriver)
    proximity: FakeDriver | None = Field(default_factory=FakeDriver)
    rcm: FakeDriver | None = Field(default_factory=FakeDriver)
    lock: FakeDriver | None = Field(default_factory=FakeDriver)
    temperature: FakeDriver | None = Field(default_factory=FakeDriver)
    token_reader: FakeDriver | None = Field(default_factory=FakeDriver)
    indicator: FakeDriver | None = Field(default_factory=FakeDriver)
    phase_switch: FakeDriver | None = None


class StationHalConfig(DriverConfig):
    emergency_stop: FakeDriver | None = None
    demand_response: FakeDriver | None = None
    grid_meter: FakeDriver | None = None
