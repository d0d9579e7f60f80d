"""The CLI's control-socket lookup agrees with the full settings for every way the path can be given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.config_paths import ConfigError
from firmware.control.locate import socket_path
from firmware.settings import load_settings

paths = st.sampled_from(["/run/a", "relative/dir", "/var/lib/x y", "/tmp/ä", ""])
maybe = st.none() | paths


def toml_station(values: dict[str, str | None]) -> str:
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
    return "[station]\n" + "\n".join(lines) + "\n" if lines else ""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config_dir=maybe, config_socket=maybe, secret_dir=maybe, env_dir=maybe, env_socket=maybe,
       env_json_dir=maybe, upper=st.booleans())
def test_agrees_with_load_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: str | None,
                                   config_socket: str | None, secret_dir: str | None, env_dir: str | None,
                                   env_socket: str | None, env_json_dir: str | None, upper: bool) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(toml_station({"state_dir": config_dir, "control_socket": config_socket}))
    (tmp_path / "secrets.toml").write_text(toml_station({"state_dir": secret_dir}))
    for name in ("CHARGEPI_STATION", "CHARGEPI_STATION__STATE_DIR", "CHARGEPI_STATION__CONTROL_SOCKET",
                 "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    prefix = "CHARGEPI_STATION" if upper else "chargepi_station"
    if env_dir is not None:
        monkeypatch.setenv(f"{prefix}__STATE_DIR", env_dir)
    if env_socket is not None:
        monkeypatch.setenv(f"{prefix}__control_socket", env_socket)
    if env_json_dir is not None:
        monkeypatch.setenv(prefix, json.dumps({"state_dir": env_json_dir}))
    assert socket_path(config) == load_settings(config).station.socket_path


def test_without_a_config_file_the_environment_and_defaults_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGEPI_STATION__STATE_DIR", raising=False)
    monkeypatch.delenv("CHARGEPI_STATION__CONTROL_SOCKET", raising=False)
    monkeypatch.delenv("CHARGEPI_STATION", raising=False)
    default = Path("/var/lib/chargepi/control.sock")
    assert socket_path(None) == default == load_settings(None).station.socket_path
    monkeypatch.setenv("CHARGEPI_STATION__STATE_DIR", "/srv/cp")
    assert socket_path(None) == Path("/srv/cp/control.sock")


@pytest.mark.parametrize(("text", "message"), [
    ("[station\n", "chargepi.toml"),
    ("[station]\nstate_dir = 5\n", "station.state_dir = 5"),
])
def test_a_bad_config_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        socket_path(config)
    with pytest.raises(ConfigError):
        load_settings(config)  # the full settings refuse it too
