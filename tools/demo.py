"""`make demo`: a whole charging session on the simulated hardware with an OCPP back end, narrated.

Starts the development CSMS (tools.csms) in this process and the real controller (`chargepi run`) as a
separate process on the fake HAL, then plays a session through the public CLI exactly as a technician
would type it: boot, plug in, RFID swipe (Authorize, StartTransaction), charging with MeterValues, a
charging profile from the CSMS and a local limit, the card again (StopTransaction), unplug. It prints
`chargepi status` and the OCPP messages as it goes. The session is the same in OCPP 1.6 (the default) and
2.0.1 (`--ocpp 2.0.1`, `make demo OCPP=2.0.1`); only the messages differ (`Script16`, `Script201`).

    python -m tools.demo [--keep] [--standalone] [--ocpp 1.6|2.0.1]
      --keep        leave the state directory (controller log, databases) for inspection
      --standalone  no back end: free charging
      --ocpp        the OCPP version the charger speaks (default 1.6)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO, cast

from ocpp.v16 import call
from ocpp.v201 import call as call_201

from tools.csms import DevCsms, Transaction

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

OCPP_CONFIG = """
[ocpp]
url = "{url}"
charge_point_id = "DEMO-CP-1"
"""
OCPP16_CONFIG = """
[ocpp.configuration]
MeterValueSampleInterval = 5
"""
OCPP201_CONFIG = """version = "2.0.1"

[ocpp.device_model]
"SampledDataCtrlr.TxUpdatedInterval" = 5
"""
CP_ID = "DEMO-CP-1"

TAG = "04A2B3C4"


class CsmsLog:
    """Prints the dev CSMS's frames with a prefix, between the demo's own lines."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                print(f"    [CSMS] {line}")
        return len(text)

    def flush(self) -> None:
        pass


class Demo:
    def __init__(self, workdir: Path, csms_url: str | None, ocpp_config: str = "") -> None:
        self.workdir = workdir
        self.config = workdir / "chargepi.toml"
        text = CONFIG.format(state_dir=workdir / "state")
        if csms_url is not None:
            text += OCPP_CONFIG.format(url=csms_url) + ocpp_config
        self.config.write_text(text)
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

    def play_standalone(self) -> None:
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


class Script16:
    """The OCPP 1.6 messages of the session, as the dev CSMS sees them."""

    name = "OCPP 1.6"
    config = OCPP16_CONFIG

    def __init__(self, csms: DevCsms) -> None:
        self.csms = csms

    async def plugged(self, since: int) -> None:
        await self.csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing", since=since)

    async def charging(self, since: int) -> Transaction:
        await self.csms.wait_for("StartTransaction", since=since, timeout=30)
        await self.csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", since=since,
                                 timeout=30)
        await self.csms.wait_for("MeterValues", since=since, timeout=30)
        return self.csms.transactions[max(self.csms.transactions)]

    async def limit_to_10a(self, tx: Transaction) -> str:
        profile = {"chargingProfileId": 1, "transactionId": tx.transaction_id, "stackLevel": 1,
                   "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                   "chargingSchedule": {"chargingRateUnit": "A",
                                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}
        result = await self.csms.call(CP_ID, call.SetChargingProfile(connector_id=1,
                                                                     cs_charging_profiles=profile))
        return str(result.status)

    async def metered(self, since: int) -> None:
        await self.csms.wait_for("MeterValues", since=since, timeout=30)

    async def ended(self, since: int) -> None:
        await self.csms.wait_for("StopTransaction", since=since, timeout=30)

    async def available(self, since: int) -> None:
        await self.csms.wait_for("StatusNotification", lambda p: p["status"] == "Available", since=since,
                                 timeout=30)


class Script201(Script16):
    """The OCPP 2.0.1 messages of the same session."""

    name = "OCPP 2.0.1"
    config = OCPP201_CONFIG

    def _event(self, kind: str, since: int, state: str | None = None) -> Any:
        def match(p: dict[str, Any]) -> bool:
            return p["eventType"] == kind and (
                state is None or p["transactionInfo"].get("chargingState") == state)

        return self.csms.wait_for("TransactionEvent", match, since=since, timeout=30)

    async def plugged(self, since: int) -> None:
        await self.csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Occupied",
                                 since=since)

    async def charging(self, since: int) -> Transaction:
        started = await self._event("Started", since)
        await self.csms.wait_for("TransactionEvent", lambda p: p["transactionInfo"].get("chargingState")
                                 == "Charging", since=since, timeout=30)
        await self.metered(since)
        return self.csms.transactions_201[started["transactionInfo"]["transactionId"]]

    async def limit_to_10a(self, tx: Transaction) -> str:
        profile = {"id": 1, "transactionId": tx.transaction_id, "stackLevel": 1,
                   "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                   "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}]}
        result = await self.csms.call(CP_ID, call_201.SetChargingProfile(evse_id=1, charging_profile=profile))
        return str(result.status)

    async def metered(self, since: int) -> None:
        await self.csms.wait_for("TransactionEvent", lambda p: bool(p.get("meterValue")), since=since,
                                 timeout=30)

    async def ended(self, since: int) -> None:
        await self._event("Ended", since)

    async def available(self, since: int) -> None:
        await self.csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Available",
                                 since=since, timeout=30)


async def play_with_csms(workdir: Path, version: str) -> None:
    async with DevCsms(log_stream=cast(TextIO, CsmsLog()), accepted_tags={TAG}) as csms:
        script = Script201(csms) if version == "2.0.1" else Script16(csms)
        print(f"# Development CSMS listening on {csms.url}; the charger speaks {script.name}")
        demo = Demo(workdir, csms.url, script.config)
        run = asyncio.to_thread
        try:
            await run(demo.start)
            await csms.wait_for("BootNotification", timeout=30)
            await csms.wait_for("StatusNotification", timeout=30)
            await run(demo.cli, "status")

            print("\n# A car plugs in. Nothing flows until a card is accepted.")
            mark = csms.mark()
            await run(demo.cli, "sim", "plug")
            await script.plugged(mark)

            print(f"\n# The driver swipes card {TAG}: Authorize, the transaction starts, Charging.")
            await run(demo.cli, "sim", "swipe", TAG)
            tx = await script.charging(mark)
            await run(demo.cli, "status")

            print("\n# The CSMS limits this transaction to 10 A with a TxProfile (smart charging).")
            print(f"    SetChargingProfile -> {await script.limit_to_10a(tx)}")
            await run(demo.wait_for, "the car to follow",
                      lambda c: max(c["meter"].get("current_a") or [99]) <= 10.5)
            await run(demo.cli, "status")

            print("\n# The back end goes away for a while; the charger keeps charging and queues.")
            await run(demo.cli, "ocpp", "disconnect")
            await asyncio.sleep(6)
            await run(demo.cli, "status")
            print("\n# Back online: the queued meter values are delivered in order.")
            mark = csms.mark()
            await run(demo.cli, "ocpp", "connect")
            await script.metered(mark)

            print(f"\n# The driver swipes {TAG} again: the transaction ends (Local).")
            mark = csms.mark()
            await run(demo.cli, "sim", "swipe", TAG)
            await script.ended(mark)
            await run(demo.cli, "sim", "unplug")
            await script.available(mark)
            await run(demo.cli, "status")
            print(f"\n# Done: transaction {tx.transaction_id} for {tx.id_tag}, "
                  f"{(tx.meter_stop or 0) - tx.meter_start} Wh, reason {tx.reason}.")
        finally:
            await run(demo.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    parser.add_argument("--standalone", action="store_true", help="no OCPP back end (free charging)")
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6",
                        help="the OCPP version the charger speaks (default 1.6)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chargepi-demo-"))
    try:
        if args.standalone:
            demo = Demo(workdir, None)
            try:
                demo.play_standalone()
            finally:
                demo.stop()
        else:
            asyncio.run(play_with_csms(workdir, args.ocpp))
        if args.keep:
            print("# State and controller log kept in", workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
