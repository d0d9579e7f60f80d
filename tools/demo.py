"""`make demo`: a whole charging session on the simulated hardware, narrated.

Starts the real controller (`chargepi run`) as a separate process on the fake HAL, then plays a session
through the public CLI exactly as a technician would type it: plug in, charge, a limit change, unplug,
printing `chargepi status` as it goes.

    python -m tools.demo [--keep]     (--keep leaves the state directory for inspection)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG = """\
[station]
serial_number = "DEMO-0001"
state_dir = "{state_dir}"
meter_poll_interval_s = 1.0

[[connectors]]
id = 1
rated_current_a = 32
phases = 3
"""


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.config = workdir / "chargepi.toml"
        self.config.write_text(CONFIG.format(state_dir=workdir / "state"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEPI_")}
        self.controller: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, show: bool = True) -> str:
        command = [sys.executable, "-m", "firmware.cli.main", *args, "--config", str(self.config)]
        if show:
            print(f"\n$ chargepi {' '.join(args)}")
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, check=False)
        if result.returncode != 0:
            raise SystemExit(f"chargepi {' '.join(args)} failed: {result.stderr.strip()}")
        if show and result.stdout.strip():
            print(result.stdout.rstrip())
        return result.stdout

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.cli("status", "--json", show=False))
        return doc

    def connector(self) -> dict[str, Any]:
        connector: dict[str, Any] = self.status()["connectors"][0]
        return connector

    def wait_for(self, what: str, predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.connector()):
                return
            time.sleep(0.25)
        raise SystemExit(f"demo: timed out waiting for {what}")

    def start(self) -> None:
        print(f"# Starting the controller on simulated hardware (state in {self.workdir})")
        log = (self.workdir / "controller.log").open("wb")
        self.controller = subprocess.Popen(
            [sys.executable, "-m", "firmware.cli.main", "run", "--config", str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while not (self.workdir / "state" / "control.sock").exists():
            if self.controller.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("demo: the controller did not start; see controller.log")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(signal.SIGTERM)
            self.controller.wait(timeout=15)

    def play(self) -> None:
        self.start()
        self.cli("status")
        print("\n# A car plugs in. Standalone mode is free charging: the session starts at once,")
        print("# the controller offers 32 A on the pilot (53.33 % duty) and the car asks for power.")
        self.cli("sim", "plug")
        self.wait_for("charging", lambda c: c["status"] == "Charging" and c["meter"].get("power_total_w"))
        self.cli("status")
        print("\n# Someone limits the charger locally to 10 A for 15 minutes (limit source 'external').")
        print("# Lowering is applied at once; the car follows within its reaction time.")
        self.cli("limit", "set", "10A", "--for", "15m")
        self.wait_for("the car to follow", lambda c: max(c["meter"].get("current_a") or [0]) <= 10.5)
        self.cli("status")
        print("\n# The limit is lifted. Raising the offer waits for the 5 s PWM update interval.")
        self.cli("limit", "clear")
        self.wait_for("32 A again", lambda c: c["offered_a"] == 32 and
                      min(c["meter"].get("current_a") or [0]) >= 31.5)
        self.cli("status")
        print("\n# The car is full and stops asking (state B): the contactor opens, the session goes on.")
        self.cli("sim", "pause")
        self.wait_for("SuspendedEV", lambda c: c["status"] == "SuspendedEV")
        self.cli("status")
        print("\n# The driver unplugs: the session ends.")
        self.cli("sim", "unplug")
        self.wait_for("Available", lambda c: c["status"] == "Available")
        self.cli("status")
        self.stop()
        print("\n# Done. The controller's log is in", self.workdir / "controller.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chargepi-demo-"))
    demo = Demo(workdir)
    try:
        demo.play()
    finally:
        demo.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
