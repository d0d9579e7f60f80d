"""`[ocpp] version` picks the OCPP package: 1.6 by default, 2.0.1 on request, and a version this build
lacks is a config error that names the allowed values (never a silent fallback to another protocol)."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.app import Application
from firmware.ocpp.common.runtime import AdapterContext
from firmware.ocpp.v16.adapter import OcppAdapter
from firmware.ocpp.v201.adapter import Adapter201
from firmware.ocpp.versions import VERSIONS, build_adapter
from firmware.settings import ConfigError, Settings, load_settings
from hal.clock import SimClock

OCPP = {"url": "ws://127.0.0.1:9/ocpp", "charge_point_id": "CP-1"}


def _settings(tmp_path: Path, **ocpp: str) -> Settings:
    return load_settings(None, station={"state_dir": str(tmp_path)}, connectors=[{"id": 1}],
                         ocpp={**OCPP, **ocpp})


def test_the_default_version_is_1_6_and_builds_the_1_6_adapter(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.ocpp is not None and settings.ocpp.version == "1.6"
    app = Application(settings, clock=SimClock())
    assert isinstance(app.ocpp, OcppAdapter)


def test_version_1_6_named_explicitly_builds_the_1_6_adapter(tmp_path: Path) -> None:
    app = Application(_settings(tmp_path, version="1.6"), clock=SimClock())
    assert isinstance(app.ocpp, OcppAdapter)


def test_version_2_0_1_builds_the_2_0_1_adapter(tmp_path: Path) -> None:
    app = Application(_settings(tmp_path, version="2.0.1"), clock=SimClock())
    assert isinstance(app.ocpp, Adapter201)


@pytest.mark.parametrize("version", ["2.0", "2.1", "1.5", "16", ""])
def test_a_version_this_build_lacks_is_a_config_error_naming_the_allowed_values(
        tmp_path: Path, version: str) -> None:
    with pytest.raises(ConfigError) as failure:
        _settings(tmp_path, version=version)
    message = str(failure.value)
    assert "ocpp.version" in message and f'"{version}"' in message
    assert all(f'"{allowed}"' in message for allowed in VERSIONS)


def test_the_version_comes_from_the_environment_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEPI_OCPP__VERSION", "2.0.1")
    assert _settings(tmp_path).ocpp.version == "2.0.1"  # type: ignore[union-attr]
    monkeypatch.setenv("CHARGEPI_OCPP__VERSION", "2.1")
    with pytest.raises(ConfigError, match=r'allowed: "1\.6", "2\.0\.1"'):
        _settings(tmp_path)


def test_build_adapter_refuses_settings_without_an_ocpp_section(tmp_path: Path) -> None:
    settings = load_settings(None, station={"state_dir": str(tmp_path)}, connectors=[{"id": 1}])
    app = Application(settings, clock=SimClock())
    assert app.ocpp is None  # standalone free charging
    context = AdapterContext(settings, app.station, app.clock, tmp_path, app.control)
    with pytest.raises(ValueError, match=r"\[ocpp\] section"):
        build_adapter(context)


def test_the_catalogue_names_exactly_the_versions_that_have_a_builder() -> None:
    from firmware.ocpp.catalogue import DEFAULT_VERSION, VERSION_NAMES

    assert tuple(VERSIONS) == VERSION_NAMES
    assert DEFAULT_VERSION in VERSIONS
