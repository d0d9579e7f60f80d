"""The smart-charging example configuration loads, and bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.settings import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "smart-charging.toml"


def test_example_loads() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.load_management.enabled and settings.load_management.use_grid_meter
    assert settings.demand_response.power_w == 4200
    assert settings.smart_charging.allowed_units == ["Current", "Power"]


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[smart_charging]\nallowed_units = ["Amps"]\nmin_current_a = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    text = str(err.value)
    assert "smart_charging.allowed_units.0" in text and "smart_charging.min_current_a" in text


def test_enabled_features_need_their_hardware(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[demand_response]\nenabled = true\n")
    with pytest.raises(ConfigError, match=r"station\.hal\.demand_response"):
        load_settings(bad)
