"""Start-up loads only what the configuration needs (docs/development.md, "Start-up cost"), checked by the
modules a fresh interpreter has loaded, not by timing:

* `chargepi run` launches the safety supervisor before it imports the settings models, so that the two
  interpreters start at once;
* the supervisor process loads no OCPP, websocket or cryptography modules, and not the settings models
  either (firmware.safety.spec: only the HAL's config models);
* a charger without `[ocpp]` runs without them too, and one with `[ocpp]` over ws:// without cryptography.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.safety.launch import inline_requested

NETWORK_AND_CRYPTO = ("ocpp", "websockets", "jsonschema", "cryptography", "firmware.ocpp.v16.adapter")
SETTINGS_MODELS = ("pydantic", "pydantic_settings", "firmware.settings", "firmware.app")
# The supervisor validates its part configs with hal.config (pydantic) and needs nothing of the controller's.
SUPERVISOR_NEEDS_NOT = ("pydantic_settings", "firmware.settings", "firmware.app", "firmware.ocpp",
                        "firmware.smart", "firmware.sessions", "firmware.storage", "firmware.control",
                        "firmware.metering", "hal.fake", "hal.meters.modbus_meter", "pymodbus", "sqlite3",
                        "transitions")

AT_LAUNCH = """
import json, sys
from firmware.safety import launch

class Seen(Exception):
    pass

def spawn(self, module=launch.SUPERVISOR_MODULE):
    print(json.dumps(sorted(sys.modules)))
    raise Seen

launch.Launch.spawn = spawn
from firmware.cli.main import main
try:
    main(sys.argv[1:])
except Seen:
    pass
"""

SUPERVISOR = """
import importlib, json, sys
import firmware.safety.supervisor as supervisor
for name in supervisor.PRELOAD:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""

STANDALONE = """
import asyncio, json, sys
from pathlib import Path
from firmware.app import Application
from hal.clock import SimClock
from firmware.settings import load_settings

async def run():
    clock = SimClock()
    app = Application(load_settings(Path(sys.argv[1])), clock=clock)
    await app.start()
    assert app.simulation is not None
    app.simulation.connector(1).plug()
    await clock.advance(30)
    charging = app.station.snapshot()["connectors"][0]["contactor"]["closed"]
    await app.stop()
    return charging

charging = asyncio.run(run())
print(json.dumps({"charging": charging, "modules": sorted(sys.modules)}))
"""


def loaded(script: str, *argv: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True)
    result: list[str] = json.loads(done.stdout.splitlines()[-1])
    return result


def packages(modules: list[str], wanted: tuple[str, ...]) -> list[str]:
    return sorted({name for name in modules for w in wanted if name == w or name.startswith(w + ".")})


def test_chargepi_run_launches_the_supervisor_before_importing_the_settings_models(tmp_path: Path) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n\n[[connectors]]\nid = 1\n')
    modules = loaded(AT_LAUNCH, "run", "--config", str(config))
    assert "firmware.safety.launch" in modules  # the probe did see the launch
    assert packages(modules, SETTINGS_MODELS + NETWORK_AND_CRYPTO) == []


def test_the_supervisor_process_loads_no_ocpp_websockets_or_cryptography() -> None:
    modules = loaded(SUPERVISOR)
    assert "hal.config" in modules  # it does validate its part configs
    assert packages(modules, NETWORK_AND_CRYPTO) == []


def test_the_supervisor_process_loads_neither_the_settings_models_nor_the_controllers_features() -> None:
    modules = loaded(SUPERVISOR)
    assert "firmware.safety.spec" in modules and "hal.factory" in modules  # what it does load
    assert packages(modules, SUPERVISOR_NEEDS_NOT) == []


def test_a_charger_without_ocpp_loads_no_ocpp_websockets_or_cryptography(tmp_path: Path) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\nsupervisor = "inline"\n\n'
                      '[[connectors]]\nid = 1\n')
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(config)], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["charging"] is True  # it did start and charge
    assert packages(result["modules"], NETWORK_AND_CRYPTO) == []


def test_the_early_launch_is_skipped_when_file_or_environment_ask_for_an_inline_supervisor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text('[station]\nsupervisor = "inline"\n')
    assert inline_requested(config)
    monkeypatch.setenv("chargepi_station__supervisor", "process")  # the environment wins, any case
    assert not inline_requested(config)
    monkeypatch.delenv("chargepi_station__supervisor")
    config.write_text("[station\n")  # unreadable: launched early; the settings report the error
    assert not inline_requested(config)
    assert not inline_requested(None)


def test_a_bad_config_ends_the_early_supervisor_too(tmp_path: Path) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text("[station]\nmeter_poll_interval_s = -1\n")
    done = subprocess.run([sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "meter_poll_interval_s" in done.stderr
    assert "Traceback" not in done.stderr  # the supervisor read end-of-file and left quietly


def test_a_charger_with_ocpp_over_plain_websockets_loads_no_cryptography(tmp_path: Path) -> None:
    config = tmp_path / "chargepi.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\nsupervisor = "inline"\nfree_charging = true\n\n'
                      '[[connectors]]\nid = 1\n\n'
                      '[ocpp]\nurl = "ws://127.0.0.1:9"\ncharge_point_id = "CP-1"\n')
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(config)], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["charging"] is True  # free charging while the CSMS cannot be reached
    assert "firmware.ocpp.v16.adapter" in result["modules"] and "websockets" in result["modules"]
    assert packages(result["modules"], ("cryptography",)) == []
