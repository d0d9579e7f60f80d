"""CLI start-up: a command loads only its own module, and the socket-only commands no settings models."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.cli.main import COMMAND_MODULES, COMMANDS, build_parser

HEAVY = ("pydantic", "pydantic_settings", "firmware.settings", "ocpp", "websockets", "hal.fake.connector",
         "firmware.app", "asyncio")
PROBE = """
import json, sys
from firmware.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_the_command_map_names_exactly_the_commands_each_module_adds() -> None:
    for module in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parser(sub, argparse.ArgumentParser(add_help=False))
        assert sorted(sub.choices) == sorted(name for name, home in COMMANDS.items() if home == module)


def test_the_full_parser_still_offers_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in COMMANDS)


@pytest.mark.parametrize("argv", [
    ["status", "--json"], ["fault", "clear", "welded"], ["sim", "plug"], ["ocpp", "disconnect"],
    ["limit", "set", "10"],
])
def test_socket_commands_load_no_settings_models_or_controller(tmp_path: Path, argv: list[str]) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n')  # nobody listens there: exit 3
    done = subprocess.run([sys.executable, "-c", PROBE, *argv, "--config", str(config)],
                          capture_output=True, text=True, check=True)
    assert "no controller is listening" in done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
