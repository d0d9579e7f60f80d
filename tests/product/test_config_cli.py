"""`chargepi config`: edits that keep the file's comments, validation messages, masking, diff, apply."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from firmware.cli.completion_cmd import bash_script
from firmware.cli.main import build_parser, main
from firmware.config_edit import diff_from_defaults, masked, target_file
from firmware.core.published import error_label
from firmware.core.vocabulary import FAULTS
from firmware.redaction import MASK
from firmware.settings import load_settings
from tests.product.shell import complete

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "chargepi.toml"
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "chargepi.toml"
    path.write_text(EXAMPLE.read_text())
    path.chmod(0o600)
    return path


def run(config: Path, *argv: str) -> int:
    return main([*argv[:2], "--config", str(config), *argv[2:]])


def test_the_example_config_is_valid(config: Path, capsys: Capture) -> None:
    assert run(config, "config", "validate") == 0
    assert capsys.readouterr().out.strip() == f"{config}: valid (1 connector(s))"


def test_set_changes_one_line_and_keeps_comments_layout_and_mode(config: Path, capsys: Capture) -> None:
    before = config.read_text().splitlines()
    assert run(config, "config", "set", "connectors.0.max_current_a", "20") == 0
    out = capsys.readouterr().out
    assert f"{config}: connectors.0.max_current_a = 20.0" in out
    assert "takes effect when the controller restarts" in out
    after = config.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("max_current_a = 16.0", "max_current_a = 20.0")]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert load_settings(config).connectors[0].max_current_a == 20


def test_set_adds_new_tables_and_keys(config: Path) -> None:
    assert run(config, "config", "set", "logging.components.ocpp", "DEBUG") == 0
    assert run(config, "config", "set", "station.vendor", "ACME") == 0
    settings = load_settings(config)
    assert settings.logging.components == {"pymodbus": "WARNING", "ocpp": "DEBUG"}
    assert settings.station.vendor == "ACME"
    assert config.read_text().startswith("# chargepi configuration")


def test_set_takes_digits_as_text_where_the_setting_is_text(config: Path) -> None:
    assert run(config, "config", "set", "station.serial_number", "1234") == 0
    assert load_settings(config).station.serial_number == "1234"
    assert 'serial_number = "1234"' in config.read_text()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("connectors.0.max_current_a", "200", "connectors.0.max_current_a = 200.0: allowed: <= 80.0"),
    ("connectors.0.rated_current_a", "5", "connectors.0.rated_current_a = 5.0: allowed: >= 6.0"),
    ("station.connection_timeout_s", "0", "station.connection_timeout_s = 0: allowed: > 0"),
    ("station.power_loss_policy", "sometimes",
     "station.power_loss_policy = 'sometimes': allowed: 'stop' or 'resume'"),
    ("station.vendor", "a-vendor-name-that-is-far-too-long",
     "allowed: at most 20 characters"),
    ("station.free_charging", "maybe", "station.free_charging = 'maybe': allowed: true or false"),
    ("station.colour", "red", "station.colour = 'red': not a known setting"),
    ("connectors.0.id", "2", "connector ids must be 1..1 without gaps or repeats, got [2]"),
    ("connectors.0.temperature.half_c", "80", "need restore_c < half_c <= quarter_c <= stop_c"),
    ("connectors.5.phases", "1", "the file has no connectors.5 (it has 1 such table(s)"),
    ("station.serial_number.x", "1", "station.serial_number is a single value, not a table"),
])
def test_set_refuses_invalid_values_and_leaves_the_file_alone(
        config: Path, capsys: Capture, key: str, value: str, message: str) -> None:
    before = config.read_bytes()
    assert run(config, "config", "set", key, value) == 1
    out = capsys.readouterr().out
    assert out.startswith("chargepi: not changed:")
    assert message in out
    assert config.read_bytes() == before


BROKEN = """\
[station]
vendor = "a-vendor-name-that-is-far-too-long"
power_loss_policy = "sometimes"
connection_timeout_s = -1
colour = "red"

[[connectors]]
rated_current_a = 100
phases = 2
"""


def test_validate_lists_every_error_with_key_value_and_what_is_allowed(
        tmp_path: Path, capsys: Capture) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    assert main(["config", "validate", str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{broken}: 7 invalid setting(s)",
        "  station.vendor = 'a-vendor-name-that-is-far-too-long': allowed: at most 20 characters",
        "  station.connection_timeout_s = -1: allowed: > 0.0",
        "  station.power_loss_policy = 'sometimes': allowed: 'stop' or 'resume'",
        "  station.colour = 'red': not a known setting (check the spelling; see `chargepi config schema`)",
        "  connectors.0.id = (missing): this setting is required",
        "  connectors.0.rated_current_a = 100: allowed: <= 80.0",
        "  connectors.0.phases = 2: allowed: 1 or 3",
    ]


@pytest.mark.parametrize(("content", "message"), [
    ("[station\nvendor = 1\n", "broken.toml: "),
    (None, "broken.toml does not exist"),
    ("[[connectors]]\nid = 1\n[[connectors]]\nid = 3\n",
     "connector ids must be 1..2 without gaps or repeats"),
])
def test_validate_reports_syntax_errors_missing_files_and_cross_checks(
        tmp_path: Path, capsys: Capture, content: str | None, message: str) -> None:
    broken = tmp_path / "broken.toml"
    if content is not None:
        broken.write_text(content)
    assert main(["config", "validate", str(broken)]) == 1
    assert message in capsys.readouterr().out


def test_a_bad_config_makes_show_exit_2_with_the_reason(tmp_path: Path, capsys: Capture) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    with pytest.raises(SystemExit) as exit_:
        main(["config", "show", "--config", str(broken)])
    assert exit_.value.code == 2
    assert "station.colour = 'red'" in capsys.readouterr().err


def test_show_prints_the_effective_config_which_reads_back_the_same(
        config: Path, tmp_path: Path, capsys: Capture) -> None:
    assert run(config, "config", "show") == 0
    shown = tmp_path / "shown.toml"
    shown.write_text(capsys.readouterr().out)
    assert load_settings(shown) == load_settings(config)


def test_get_prints_effective_values(config: Path, capsys: Capture) -> None:
    assert run(config, "config", "get", "connectors.0.max_current_a") == 0
    assert run(config, "config", "get", "station.vendor") == 0  # a default, not in the file
    assert run(config, "config", "get", "connectors.0.temperature") == 0
    out = capsys.readouterr().out
    assert out.startswith("16.0\nchargepi\nhalf_c = 65.0\n")
    assert run(config, "config", "get", "station.nothing") == 1
    assert "station.nothing: not a known setting" in capsys.readouterr().err


def test_secrets_are_masked_wherever_they_are() -> None:
    tree = {"ocpp": {"url": "wss://csms", "authorization_key": "00112233", "password": "",
                     "basic_auth": {"password": "hunter2", "user": "cp1"}},
            "api_token": "tok", "token_reader": {"driver": "fake"}}
    assert masked(tree) == {"ocpp": {"url": "wss://csms", "authorization_key": MASK, "password": "",
                                     "basic_auth": {"password": MASK, "user": "cp1"}},
                            "api_token": MASK, "token_reader": {"driver": "fake"}}


def test_diff_lists_only_what_differs_from_the_defaults(config: Path, capsys: Capture) -> None:
    assert run(config, "config", "diff") == 0
    assert capsys.readouterr().out.splitlines() == [
        "connectors.0.max_current_a: (not set) -> 16.0",
        "logging.components.pymodbus: (not set) -> WARNING",
        "logging.level: (not set) -> INFO",
    ]
    two = config.parent / "two.toml"
    two.write_text("[[connectors]]\nid = 1\n[[connectors]]\nid = 2\nphases = 1\n")
    assert [c[0] for c in diff_from_defaults(load_settings(two))] == ["connectors.1.phases"]


def test_schema_and_keys(config: Path, capsys: Capture) -> None:
    assert run(config, "config", "schema") == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"station", "connectors", "logging", "sessions"} <= set(schema["properties"])
    assert run(config, "config", "keys") == 0
    keys = capsys.readouterr().out.split()
    assert "connectors.0.max_current_a" in keys and "sessions.retention_days" in keys


def fake_systemctl(tmp_path: Path, exit_code: int) -> Path:
    log = tmp_path / "systemctl.log"
    shim = tmp_path / "systemctl"
    shim.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit {exit_code}\n')
    shim.chmod(0o755)
    return log


def test_apply_restarts_the_service(config: Path, tmp_path: Path, capsys: Capture,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log = fake_systemctl(tmp_path, 0)
    monkeypatch.setenv("CHARGEPI_SYSTEMCTL", str(tmp_path / "systemctl"))
    assert run(config, "config", "set", "station.free_charging", "true", "--apply") == 0
    assert log.read_text() == "restart chargepi\n"
    assert "chargepi restarted" in capsys.readouterr().out


def test_apply_reports_a_service_that_does_not_come_back(config: Path, tmp_path: Path, capsys: Capture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fake_systemctl(tmp_path, 1)
    monkeypatch.setenv("CHARGEPI_SYSTEMCTL", str(tmp_path / "systemctl"))
    assert run(config, "config", "set", "station.free_charging", "true", "--apply") == 1
    assert "journalctl -u chargepi" in capsys.readouterr().out


def test_an_invalid_set_never_restarts(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = fake_systemctl(tmp_path, 0)
    monkeypatch.setenv("CHARGEPI_SYSTEMCTL", str(tmp_path / "systemctl"))
    assert run(config, "config", "set", "station.free_charging", "maybe", "--apply") == 1
    assert not log.exists()


def test_bash_completion(tmp_path: Path, capsys: Capture) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "chargepi.bash"
    script.write_text(capsys.readouterr().out)
    assert {"config", "sessions", "report", "completion"} <= set(complete(script, "chargepi ", tmp_path))
    assert complete(script, "chargepi config v", tmp_path) == ["validate"]
    assert complete(script, "chargepi config set --a", tmp_path) == ["--apply"]
    assert complete(script, "chargepi config get station.s", tmp_path) == ["station.serial_number"]
    assert complete(script, "chargepi report --by ", tmp_path) == ["day", "week", "month"]
    assert complete(script, "chargepi completion z", tmp_path) == ["zsh"]
    (tmp_path / "mine.toml").write_text("")
    assert complete(script, f"chargepi config show --config {tmp_path}/mi", tmp_path) == \
        [f"{tmp_path}/mine.toml"]


def test_zsh_completion_loads_the_bash_one_through_bashcompinit(capsys: Capture) -> None:
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert "bashcompinit" in out and out.endswith(bash_script(build_parser()))


def test_credentials_file_is_merged_over_the_config(config: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config.write_text(config.read_text().replace('policy = "stop"', 'policy = "resume"'))
    (config.parent / "secrets.toml").write_text('[station]\nserial_number = "FROM-SECRETS"\n')
    settings = load_settings(config)
    assert settings.station.serial_number == "FROM-SECRETS"
    # merged table by table: the rest of [station] and everything else still comes from the config
    assert settings.station.power_loss_policy == "resume"
    assert settings.connectors[0].max_current_a == 16.0
    # under systemd the service reads the private copy from $CREDENTIALS_DIRECTORY
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "secrets.toml").write_text('[station]\nserial_number = "FROM-SYSTEMD"\n')
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_settings(config).station.serial_number == "FROM-SYSTEMD"


def test_credentials_are_routed_to_the_secrets_file(config: Path) -> None:
    secrets = config.parent / "secrets.toml"
    assert target_file(config, "ocpp.authorization_key") == secrets
    assert target_file(config, "ocpp.basic_auth.password") == secrets
    assert target_file(config, "station.serial_number") == config


def test_an_edit_is_checked_together_with_the_secrets_file(config: Path, capsys: Capture) -> None:
    (config.parent / "secrets.toml").write_text('[station]\nvendor = "a-vendor-name-that-is-far-too-long"\n')
    before = config.read_bytes()
    assert run(config, "config", "set", "connectors.0.max_current_a", "20") == 1
    assert config.read_bytes() == before
    assert "station.vendor = 'a-vendor-name-that-is-far-too-long'" in capsys.readouterr().out


def test_the_technicians_fault_table_covers_every_fault() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs/faults.md").read_text()
    section = guide[guide.index("## Common faults"):]
    for fault, info in FAULTS.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{fault.value}` |")), None)
        assert row is not None, f"docs/faults.md fault table lacks {fault.value}"
        assert f"{error_label(fault)} ({info.vendor_code})" in row
        assert ("latched" in row) == info.latched
        assert ("on unplug" in row) == info.clears_on_unplug
        assert ("continues" in row) == (not info.blocking)


def test_several_settings_at_once_all_or_nothing(config: Path, capsys: Capture) -> None:
    assert run(config, "config", "set", "station.serial_number", "CP-9", "connectors.0.phases", "1") == 0
    settings = load_settings(config)
    assert (settings.station.serial_number, settings.connectors[0].phases) == ("CP-9", 1)
    before = config.read_bytes()
    assert run(config, "config", "set", "station.serial_number", "CP-10", "connectors.0.phases", "2") == 1
    assert "connectors.0.phases = 2: allowed: 1 or 3" in capsys.readouterr().out
    assert config.read_bytes() == before
    assert run(config, "config", "set", "station.serial_number", "CP-10", "connectors.0.phases") == 2
    assert "'connectors.0.phases' has no value" in capsys.readouterr().err


def test_unreadable_config_gives_a_hint_not_a_traceback(config: Path, capsys: Capture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(config))

    monkeypatch.setattr("firmware.cli.config_cmd.settings_from", denied)
    monkeypatch.setattr("firmware.cli.config_cmd.validate_file", denied)
    with pytest.raises(SystemExit) as exit_:
        run(config, "config", "show")
    assert exit_.value.code == 2
    assert run(config, "config", "validate") == 2
    assert capsys.readouterr().err.count(f"cannot read {config}: use sudo, or join the group chargepi") == 2


def test_ocpp_credentials_go_to_the_secrets_file_and_stay_masked(config: Path, capsys: Capture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    secrets = config.parent / "secrets.toml"
    # profile 1 needs the key: one key alone is refused, all of them together are written
    assert run(config, "config", "set", "ocpp.url", "wss://csms.example/ocpp", "ocpp.charge_point_id", "CP-7",
               "ocpp.security_profile", "1") == 1
    assert "security_profile 1 needs authorization_key" in capsys.readouterr().out
    assert not secrets.exists()
    assert run(config, "config", "set", "ocpp.url", "wss://csms.example/ocpp", "ocpp.charge_point_id", "CP-7",
               "ocpp.security_profile", "1", "ocpp.authorization_key", "0011223344556677") == 0
    out = capsys.readouterr().out
    assert f"{secrets}: ocpp.authorization_key = {MASK}" in out and "0011223344556677" not in out
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert "0011223344556677" in secrets.read_text()
    main_text = config.read_text()
    assert "authorization_key" not in main_text and 'url = "wss://csms.example/ocpp"' in main_text
    settings = load_settings(config)
    assert settings.ocpp is not None and settings.ocpp.authorization_key == "0011223344556677"

    assert run(config, "config", "show") == 0
    shown = capsys.readouterr().out
    assert "0011223344556677" not in shown and f'authorization_key = "{MASK}"' in shown
    assert run(config, "config", "get", "ocpp.authorization_key") == 0
    assert capsys.readouterr().out.strip() == MASK
    assert run(config, "config", "get", "ocpp.authorization_key", "--reveal") == 0
    assert capsys.readouterr().out.strip() == "0011223344556677"
    assert run(config, "config", "diff") == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("ocpp.")] == [
        f"ocpp.authorization_key: (not set) -> {MASK}",  # an optional section: compared with its defaults
        "ocpp.charge_point_id: (not set) -> CP-7",
        "ocpp.security_profile: 0 -> 1",
        "ocpp.url: (not set) -> wss://csms.example/ocpp",
    ]
