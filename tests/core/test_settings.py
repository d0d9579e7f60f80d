"""Settings: TOML + environment overrides; bad values name key, value and what is allowed."""

import pytest

from firmware.settings import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "chargepi.toml"
    path.write_text(text)
    return path


def test_defaults_without_file():
    settings = load_settings(None)
    assert [c.id for c in settings.connectors] == [1]
    assert settings.station.socket_path.name == "control.sock"


def test_file_and_environment_override(tmp_path, monkeypatch):
    path = write(tmp_path, '[station]\nvendor = "acme"\n[[connectors]]\nid = 1\nphases = 1\n')
    monkeypatch.setenv("CHARGEPI_STATION__SERIAL_NUMBER", "SN-42")
    settings = load_settings(path)
    assert settings.station.vendor == "acme"
    assert settings.station.serial_number == "SN-42"
    assert settings.connectors[0].phases == 1


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[[connectors]]\nid = 1\nphases = 2\n", "connectors.0.phases = 2: allowed: 1 or 3"),
        ("[[connectors]]\nid = 1\nrated_current_a = 100\n",
         "connectors.0.rated_current_a = 100: allowed: <= 80"),
        ("[station]\npower_loss_policy = \"maybe\"\n",
         "station.power_loss_policy = 'maybe': allowed: 'stop' or 'resume'"),
        ("[station]\nvendr = \"x\"\n", "station.vendr = 'x': not a known setting"),
        ("[[connectors]]\nid = 2\n", "connector ids must be 1..1"),
        ("[[connectors]]\nid = 1\n[connectors.hal.pilot]\ndriver = \"nope\"\n",
         "connectors.0.hal.pilot.driver = 'nope': allowed:"),
        ("[[connectors]]\nid = 1\n[connectors.temperature]\nhalf_c = 50\nrestore_c = 60\n",
         "need restore_c < half_c"),
    ],
)
def test_bad_values_are_explained(tmp_path, toml, expected):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, toml))
    assert expected in str(err.value)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "[station\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
