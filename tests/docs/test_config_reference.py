"""The configuration reference in docs/configuration.md is generated from the settings models and checked
here: stale or undocumented settings fail CI."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from firmware.settings import StationSettings
from hal.config import ConnectorHalConfig, StationHalConfig
from tools import config_reference

REPO = Path(__file__).resolve().parents[2]


def test_the_checked_in_reference_is_the_generated_one() -> None:
    assert config_reference.main(["--check"]) == 0, "run `python -m tools.config_reference`"


def test_a_setting_without_a_description_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StationSettings.model_fields["vendor"], "description", None)
    with pytest.raises(config_reference.Undocumented, match=r"station\.vendor"):
        config_reference.generate()


def test_a_changed_default_makes_the_reference_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StationSettings.model_fields["vendor"], "default", "acme")
    assert config_reference.main(["--check"]) == 1


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def _driver_options(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every option name of every driver model reachable from the HAL part tables."""
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for sub in _models(field.annotation):
            names |= _driver_options(sub, seen)
    return names


def test_every_driver_option_is_described_in_the_wiring_reference() -> None:
    doc = (REPO / "docs" / "hardware-wiring.md").read_text()
    seen: set[type[BaseModel]] = set()
    options = _driver_options(ConnectorHalConfig, seen) | _driver_options(StationHalConfig, seen)
    # `name`, name = ..., [section.name], [station.hal] name
    undocumented = sorted(o for o in options if not re.search(rf"`{o}\b|\b{o} =|[.\[ ]{o}[`\]]", doc))
    assert undocumented == []
