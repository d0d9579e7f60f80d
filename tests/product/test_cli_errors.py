"""The CLI as a technician meets it: config precedence, missing files, exit codes, one-line errors, help,
completion that follows the parser, and output piped into `head`."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.cli import common
from firmware.cli.main import build_parser, main
from firmware.settings import load_settings
from tests.product.shell import complete

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "chargepi.toml"
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CHARGEPI_"):
            monkeypatch.delenv(name)
    path = tmp_path / "chargepi.toml"
    path.write_text(EXAMPLE.read_text().replace("[station]\n", f'[station]\nstate_dir = "{tmp_path}"\n', 1))
    return path


def exit_code(argv: list[str]) -> int:
    """main()'s exit status, whether it returns it or exits with it (client commands do)."""
    try:
        return main(argv)
    except SystemExit as exc:
        assert isinstance(exc.code, int)
        return exc.code


def chargepi(*argv: str, env: dict[str, str] | None = None, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "firmware.cli.main", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=stdin, timeout=60, cwd=REPO)


# --- a config file that is not there --------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status"], ["sessions"], ["sim", "plug"], ["ocpp", "connect"],
                                  ["limit", "clear"], ["config", "show"], ["config", "get", "station.vendor"],
                                  ["selftest", "--yes"], ["report"]])
def test_a_config_file_that_does_not_exist_is_an_error(argv: list[str], tmp_path: Path, capsys: Capture
                                                       ) -> None:
    missing = tmp_path / "nope.toml"
    assert exit_code([*argv, "--config", str(missing)]) == common.EXIT_CONFIG
    err = capsys.readouterr().err
    assert err == f"chargepi: config file {missing} (--config) does not exist: check the path\n"


def test_chargepi_config_naming_a_missing_file_is_an_error(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: Capture) -> None:
    monkeypatch.setenv("CHARGEPI_CONFIG", str(config.parent / "gone.toml"))
    assert exit_code(["status"]) == common.EXIT_CONFIG
    assert "($CHARGEPI_CONFIG) does not exist" in capsys.readouterr().err


def test_run_with_a_missing_config_file_stops_with_exit_2(tmp_path: Path) -> None:
    done = chargepi("run", env={"CHARGEPI_CONFIG": str(tmp_path / "gone.toml")})
    assert done.returncode == 2
    assert done.stderr.strip().endswith("($CHARGEPI_CONFIG) does not exist: check the path or unset "
                                        "CHARGEPI_CONFIG")


# --- precedence: file < secrets file < environment; --config beats $CHARGEPI_CONFIG -------------------
def test_the_environment_overrides_the_file_and_the_command_line_picks_the_file(
        config: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    other = config.parent / "other.toml"
    other.write_text(config.read_text().replace('serial_number = "CP-0001"', 'serial_number = "OTHER"'))
    monkeypatch.setenv("CHARGEPI_CONFIG", str(other))
    assert main(["config", "get", "station.serial_number"]) == 0
    assert main(["config", "get", "station.serial_number", "--config", str(config)]) == 0
    monkeypatch.setenv("CHARGEPI_STATION__SERIAL_NUMBER", "FROM-ENV")
    assert main(["config", "get", "station.serial_number", "--config", str(config)]) == 0
    assert capsys.readouterr().out.split() == ["OTHER", "CP-0001", "FROM-ENV"]


def test_connector_settings_can_be_overridden_one_by_one_from_the_environment(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEPI_CONNECTORS__0__MAX_CURRENT_A", "20")
    settings = load_settings(config)
    first = settings.connectors[0]
    assert (first.max_current_a, first.rated_current_a, first.cable) == (20, 32, "socket")  # rest: file
    monkeypatch.setenv("CHARGEPI_CONNECTORS__1__ID", "2")  # the next position adds a connector
    monkeypatch.setenv("CHARGEPI_CONNECTORS__1__PHASES", "1")
    assert [(c.id, c.phases) for c in load_settings(config).connectors] == [(1, 3), (2, 1)]
    monkeypatch.setenv("CHARGEPI_CONNECTORS__0__MAX_CURRENT_A", "20")
    monkeypatch.delenv("CHARGEPI_CONFIG", raising=False)
    assert load_settings(None).connectors[0].max_current_a == 20  # over the default connector too


def test_a_connector_position_with_a_gap_is_named(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: Capture) -> None:
    monkeypatch.setenv("CHARGEPI_CONNECTORS__3__PHASES", "1")
    assert exit_code(["config", "show", "--config", str(config)]) == common.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "connectors.3: there are only 1 entries, so the next one is connectors.1" in err


def test_ocpp_configuration_keys_from_the_environment_keep_their_ocpp_names(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEPI_OCPP__URL", "ws://csms.example/ocpp")
    monkeypatch.setenv("CHARGEPI_OCPP__CHARGE_POINT_ID", "CP-1")
    monkeypatch.setenv("CHARGEPI_OCPP__CONFIGURATION__HEARTBEATINTERVAL", "60")
    ocpp = load_settings(config).ocpp
    assert ocpp is not None and set(ocpp.configuration) == {"HeartbeatInterval"}


# --- config keys / get / set and the OCPP configuration keys ------------------------------------------
def test_config_keys_lists_the_ocpp_section_and_its_configuration_keys(capsys: Capture) -> None:
    assert main(["config", "keys"]) == 0
    keys = capsys.readouterr().out.split()
    assert {"ocpp.url", "ocpp.charge_point_id", "ocpp.firmware.install_command",
            "ocpp.configuration.HeartbeatInterval", "ocpp.configuration.MeterValuesSampledData"} <= set(keys)
    assert "ocpp.configuration.NumberOfConnectors" not in keys  # read-only: cannot be preset
    assert "ocpp.configuration.AuthorizationKey" not in keys  # that is ocpp.authorization_key
    assert "ocpp" not in keys and "ocpp.configuration" not in keys


def test_config_get_and_set_an_ocpp_configuration_key(config: Path, capsys: Capture) -> None:
    argv = ["--config", str(config)]
    assert main(["config", "get", "ocpp.url", *argv]) == 0
    assert capsys.readouterr().out == "(not set: the config has no [ocpp] section)\n"
    assert main(["config", "set", "ocpp.url", "ws://csms.example/ocpp", "ocpp.charge_point_id", "CP-1",
                 *argv]) == 0
    assert main(["config", "get", "ocpp.configuration.HeartbeatInterval", *argv]) == 0
    assert capsys.readouterr().out.endswith("300 (OCPP default, not preset; the CSMS may change it)\n")
    assert main(["config", "set", "ocpp.configuration.HeartbeatInterval", "60", *argv]) == 0
    assert main(["config", "get", "ocpp.configuration.HeartbeatInterval", *argv]) == 0
    assert capsys.readouterr().out.endswith("60\n")
    assert "[ocpp.configuration]\nHeartbeatInterval = 60" in config.read_text()
    assert main(["config", "set", "ocpp.configuration.HeartbeatInterval", "-5", *argv]) == 1
    assert "configuration.HeartbeatInterval = -5" in capsys.readouterr().out


# --- errors in the user's words -------------------------------------------------------------------------
@pytest.mark.parametrize(("toml", "message"), [
    ('[station]\nfree_charging = "maybe"\n', "station.free_charging = 'maybe': allowed: true or false"),
    ("connectors = { id = 1 }\n", "connectors = {...}: allowed: a list ([...], or [[...]] tables)"),
    ('[station]\nmeter_poll_interval_s = "often"\n',
     "station.meter_poll_interval_s = 'often': allowed: a number"),
    ("[station]\nvendor = 5\n", 'station.vendor = 5: allowed: text in quotes ("...")'),
    ("station = 3\n", "station = 3: allowed: a table ([section] or { key = value })"),
])
def test_config_errors_name_key_value_and_what_is_allowed(tmp_path: Path, toml: str, message: str,
                                                          capsys: Capture) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    assert main(["config", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert message in out
    assert "Input should" not in out and "pydantic" not in out and "https://" not in out


def test_a_driver_that_cannot_start_is_one_line_with_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[station]\nstate_dir = "{tmp_path}"\n[station.hal]\n'
                    'emergency_stop = { driver = "gpio", input = 16 }\n[[connectors]]\nid = 1\n')
    done = chargepi("run", "--config", str(path), env={"GPIOZERO_PIN_FACTORY": "no-such-factory"})
    assert done.returncode == common.EXIT_HARDWARE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chargepi: cannot start the hardware: emergency stop: cannot open input pin")
    assert f"Fix: check the driver settings in {path}" in lines[0]


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
        config: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("firmware.cli.config_cmd.keys_cmd", broken)
    assert main(["config", "keys"]) == common.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == ("chargepi config: unexpected error: OSError: [Errno 28] No space left on device "
                   "(run again with --debug for the traceback, and report it)\n")
    with pytest.raises(OSError):
        main(["--debug", "config", "keys"])
    with pytest.raises(OSError):
        main(["config", "keys", "--debug"])


def test_output_piped_into_head_ends_quietly() -> None:
    done = subprocess.run(f"{sys.executable} -m firmware.cli.main config keys | head -1", shell=True,
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout == "station.vendor\n"
    assert done.stderr == ""
    command = f"set -o pipefail; {sys.executable} -m firmware.cli.main completion bash | head -c 1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=REPO, timeout=60,
                          executable="/bin/bash")
    assert (done.returncode, done.stderr) == (0, "")


# --- exit codes, help, completion -----------------------------------------------------------------------
def test_the_exit_codes_in_the_readme_are_the_ones_the_cli_uses() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| exit code |"):].split("\n\n", 1)[0]
    documented = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| `(\w+)` \|", table, re.M)}
    used = {value: name for name, value in vars(common).items() if name.startswith("EXIT_")}
    assert documented == {**used, 75: "EXIT_RESTART"}


def _parsers(parser: argparse.ArgumentParser, path: str = "chargepi"
             ) -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                out.append((f"{path} {name}", child, helps.get(name)))
                out += _parsers(child, f"{path} {name}")
    return out


def test_every_subcommand_and_option_has_help_text() -> None:
    missing = []
    for path, parser, summary in _parsers(build_parser()):
        if not summary:
            missing.append(f"{path}: no summary in the command list")
        missing += [f"{path} {action.option_strings or action.dest}: no help"
                    for action in parser._actions
                    if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert missing == []


def test_completion_offers_every_subcommand_and_option_of_the_parser(tmp_path: Path, capsys: Capture) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "chargepi.bash"
    script.write_text(capsys.readouterr().out)
    for path, parser, _ in [("chargepi", build_parser(), None), *_parsers(build_parser())]:
        expected = {o for a in parser._actions for o in a.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                expected |= set(action.choices)
        offered = set(complete(script, f"{path} ", tmp_path)) | set(complete(script, f"{path} -", tmp_path))
        assert expected <= offered, f"{path}: completion lacks {expected - offered}"


def test_a_value_from_the_environment_is_never_silent(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: Capture) -> None:
    monkeypatch.setenv("CHARGEPI_STATION__STATE_DIR", "/tmp/from-env")
    assert main(["config", "get", "station.state_dir", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "/tmp/from-env\n"
    assert captured.err == ("chargepi: note: CHARGEPI_STATION__STATE_DIR in the environment overrides "
                            "the file\n")
    assert main(["config", "show", "--config", str(config)]) == 0
    assert "# station.state_dir comes from the environment (CHARGEPI_STATION__STATE_DIR), over the file" \
        in capsys.readouterr().out
