"""`chargepi config` and the `[ocpp.device_model]` presets: listed, set, validated with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.cli.main import main
from firmware.settings import load_settings

Capture = pytest.CaptureFixture[str]
BASE = '[ocpp]\nurl = "ws://csms.example/ocpp"\ncharge_point_id = "CP-1"\n'


def run(config: Path, *argv: str) -> int:
    return main([*argv[:2], "--config", str(config), *argv[2:]])


def test_keys_lists_the_presettable_variables(tmp_path: Path, capsys: Capture) -> None:
    assert run(tmp_path / "none.toml", "config", "keys") == 0
    keys = capsys.readouterr().out.split()
    assert "ocpp.device_model.OCPPCommCtrlr.MessageAttempts[TransactionEvent]" in keys
    assert "ocpp.device_model.EVSE#1/1.Connector.ConnectorType" in keys
    assert not any("BasicAuthPassword" in k or "DateTime" in k for k in keys)  # credential, live value


def test_set_and_get_a_device_model_preset(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(BASE)
    key = "ocpp.device_model.OCPPCommCtrlr.MessageAttempts[TransactionEvent]"
    assert run(config, "config", "get", key) == 0
    assert capsys.readouterr().out.startswith("5 (OCPP default")
    assert run(config, "config", "set", key, "3") == 0
    settings = load_settings(config)
    assert settings.ocpp is not None
    assert settings.ocpp.device_model == {"OCPPCommCtrlr.MessageAttempts[TransactionEvent]": 3}
    capsys.readouterr()
    assert run(config, "config", "set", key, "0") == 1
    assert "below the minimum 1" in capsys.readouterr().out
    assert load_settings(config).ocpp.device_model[key.split(".", 2)[2]] == 3  # type: ignore[union-attr]


def test_validate_names_a_bad_preset(tmp_path: Path, capsys: Capture) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(BASE + '[ocpp.device_model]\n"TxCtrlr.TxStartPoint" = "DataSigned"\n')
    assert run(config, "config", "validate") == 1
    out = capsys.readouterr().out
    assert 'ocpp.device_model."TxCtrlr.TxStartPoint"' in out and "not in" in out
