"""`chargepi meter scan` as a technician runs it: quiet, and a config snippet for every meter found."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path

from firmware.settings import load_settings
from hal.meters.registermap import builtin_maps
from tests.drivers.meter_emulator import EmulatedMeter, free_port, start_tcp_server

REPO = Path(__file__).resolve().parents[2]


async def scan_cli(port: int, *extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware.cli.main", "meter", "scan", "--host", "127.0.0.1", "--tcp-port",
        str(port), "--ids", "1-4", "--timeout", "0.2", *extra, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_scan_is_quiet_and_prints_a_snippet_per_meter(tmp_path: Path) -> None:
    port = free_port()
    server = await start_tcp_server([EmulatedMeter(builtin_maps()["em340"], 2),
                                     EmulatedMeter(builtin_maps()["sdm120"], 4)], port)
    try:
        code, out, err = await scan_cli(port)
        _, _, debug_err = await scan_cli(port, "--debug")
    finally:
        await server.shutdown()
    assert code == 0
    assert err == ""  # no "No response received" and frame dumps for the empty addresses 1 and 3
    assert "No response received" in debug_err  # the library's messages are still there with --debug
    assert "address   2: Carlo Gavazzi EM340 / Phoenix EEM-350" in out
    blocks = out.split("\n\n")
    em340 = next(b for b in blocks if b.startswith("# address 2:"))
    snippet = tomllib.loads(em340)["connectors"]["hal"]["meter"]
    assert snippet == {"driver": "modbus-tcp", "host": "127.0.0.1", "port": port, "device_id": 2,
                       "model": "em340"}
    sdm = next(b for b in blocks if b.startswith("# address 4:"))
    assert "keep the model on the meter's type plate" in sdm  # Eastron maps share registers
    # the snippet is a valid meter config as it stands
    config = tmp_path / "c.toml"
    config.write_text(f'[station]\nstate_dir = "{tmp_path}"\n[[connectors]]\nid = 1\n'
                      + em340.replace("[connectors.hal.meter]", "[connectors.hal.meter]", 1))
    assert load_settings(config).connectors[0].hal.meter.driver == "modbus-tcp"
