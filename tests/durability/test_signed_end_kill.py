"""SIGKILL between the end of a session and the meter's signature: the signed end value still reaches the
CSMS (docs/signed-metering.md, "When the controller dies in between").

The real controller process (`chargepi run`, fake HAL with the simulated signing meter, each end signature
taking SIGN_TIME_S) charges against the development CSMS in its own process, which records every frame
(`python -m tools.csms --record`; harness of test_sigkill.py). After each unplug the controller is killed
KILLS_PER_RUN times at random points within 2 s of its (re)start — during the end, the signature, the
recovery at start-up — then runs until its queue is empty. Each transaction must then have exactly one
StopTransaction, carrying a Transaction.End SignedData value whose OCMF signature verifies, with
`cryptography` directly, against the simulator's public test key, and whose readings match the session.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.control.client import CommandFailed, ControllerUnreachable, call
from hal.fake.signing_meter import TEST_KEY_SCALAR
from tests.durability.test_sigkill import REPO, Csms, _env, _wait_dead

RUNS = 3
KILLS_PER_RUN = 8
KILL_WINDOW_S = 2.0
SIGN_TIME_S = 1.0
SEED = 20261204

pytestmark = pytest.mark.slow


class SigningCharger:
    def __init__(self, base: Path, port: int, log: TextIO) -> None:
        self.state = base / "cp"
        self.socket = self.state / "control.sock"
        self.config = base / "cp.toml"
        self.config.write_text(f"""
[station]
state_dir = "{self.state}"
free_charging = true
power_loss_policy = "stop"
log_level = "WARNING"
supervisor = "inline"

[station.hal]
sim_ev_reaction_s = 0.1

[ocpp]
url = "ws://127.0.0.1:{port}/ocpp"
charge_point_id = "CP-SIGNED"
reconnect_min_s = 0.1
reconnect_max_s = 0.3
ping_interval_s = 0
response_timeout_s = 2.0

[ocpp.configuration]
MeterValueSampleInterval = 1

[[connectors]]
id = 1
[connectors.hal.meter]
driver = "fake"
ocmf = true
sign_time_s = {SIGN_TIME_S}
""")
        self.zygote = subprocess.Popen([sys.executable, "-m", "tests.durability.zygote"], cwd=REPO,
                                       env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                       text=True)
        self.kills = 0

    def fork(self) -> int:
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"{self.config}\n")
        self.zygote.stdin.flush()
        return int(self.zygote.stdout.readline())

    def control(self, command: str, **args: Any) -> Any:
        try:
            return call(self.socket, command, timeout=2.0, **args)
        except (ControllerUnreachable, CommandFailed, OSError, ValueError):
            return None

    def wait_for(self, what: str, ready: Any, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            doc = self.control("status")
            if doc is not None and ready(doc):
                return dict(doc)
            time.sleep(0.05)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        self.kills += 1

    def one_session(self, rng: random.Random) -> None:
        """Charge, unplug, die KILLS_PER_RUN times, then run until every message is out."""
        pid = self.fork()
        self.wait_for("the controller online", lambda d: d["ocpp"]["connected"])
        self.control("sim", action="plug")
        self.wait_for("energy", lambda d: (s := d["connectors"][0]["session"]) is not None
                      and s["energy_wh"] > 0)
        time.sleep(0.5)
        self.control("sim", action="unplug")
        for _ in range(KILLS_PER_RUN):
            time.sleep(rng.uniform(0.0, KILL_WINDOW_S))
            self.kill(pid)
            pid = self.fork()
        self.wait_for("the queue to drain", lambda d: d["connectors"][0]["session"] is None
                      and d["ocpp"]["connected"] and d["ocpp"]["transaction_queue_depth"] == 0)
        os.kill(pid, signal.SIGTERM)
        _wait_dead(pid)

    def close(self) -> None:
        if self.zygote.stdin is not None:
            self.zygote.stdin.close()
        self.zygote.wait(timeout=10)


@pytest.fixture
def rig() -> Iterator[tuple[Csms, SigningCharger]]:
    base = Path(tempfile.mkdtemp(prefix="cps"))  # short: unix socket path limit
    with (base / "processes.log").open("w") as log:
        csms = Csms(base, log)
        charger = SigningCharger(base, csms.port, log)
        try:
            yield csms, charger
        finally:
            charger.close()
            csms.close()


def _verified_payload(ocmf: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The OCMF payload, once its signature (hex DER ECDSA over the payload bytes, SHA-256) checks out."""
    assert ocmf.startswith("OCMF|")
    payload_text, signature_text = ocmf[len("OCMF|"):].rsplit("|", 1)
    signature = bytes.fromhex(json.loads(signature_text)["SD"])
    try:
        key.verify(signature, payload_text.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail(f"the signed end value does not verify: {ocmf}")
    payload: dict[str, Any] = json.loads(payload_text)
    return payload


def test_signed_end_survives_kills_between_session_end_and_signature(
        rig: tuple[Csms, SigningCharger]) -> None:
    csms, charger = rig
    began = time.monotonic()
    rng = random.Random(SEED)
    for _ in range(RUNS):
        charger.one_session(rng)
    elapsed = time.monotonic() - began
    csms.close()
    key = ec.derive_private_key(TEST_KEY_SCALAR, ec.SECP256R1()).public_key()
    entries = [json.loads(line) for line in csms.record.read_text().splitlines()]
    calls = [(e["frame"][1], e["frame"][2], e["frame"][3]) for e in entries
             if e["direction"] == "in" and e["frame"][0] == 2]
    answers = {e["frame"][1]: e["frame"][2] for e in entries
               if e["direction"] == "out" and e["frame"][0] == 3}
    starts: dict[int, dict[str, Any]] = {}
    for uid, action, payload in calls:
        if action == "StartTransaction" and uid in answers:
            starts[answers[uid]["transactionId"]] = payload
    stops: dict[int, set[str]] = defaultdict(set)  # transaction -> queued rows (q<seq>) that stopped it
    stop_of: dict[int, dict[str, Any]] = {}
    for uid, action, payload in calls:
        if action == "StopTransaction":
            stops[payload["transactionId"]].add(uid.split(".")[0])
            stop_of[payload["transactionId"]] = payload
    ended = [tx for tx in starts if tx in stop_of]
    assert len(ended) == RUNS, f"{len(ended)} transactions stopped of {RUNS}"
    assert all(len(stops[tx]) == 1 for tx in ended)
    signatures = set()
    for tx in ended:
        stop = stop_of[tx]
        signed = [sv for mv in stop.get("transactionData", []) for sv in mv["sampledValue"]
                  if sv.get("format") == "SignedData" and sv.get("context") == "Transaction.End"]
        assert len(signed) == 1, f"transaction {tx}: {len(signed)} signed end values in {stop}"
        value = json.loads(signed[0]["value"])
        assert value["encodingMethod"] == "OCMF"
        ocmf = base64.b64decode(value["signedMeterData"]).decode()
        payload = _verified_payload(ocmf, key)
        begin, end = payload["RD"]
        assert (begin["TX"], end["TX"]) == ("B", "E")
        assert abs(begin["RV"] * 1000 - starts[tx]["meterStart"]) <= 1
        assert end["RV"] >= begin["RV"] and end["RV"] * 1000 >= stop["meterStop"] - 1
        signatures.add(ocmf)
    assert len(signatures) == RUNS  # each transaction its own end record
    figures = {"runs": RUNS, "kills": charger.kills, "power_loss_stops":
               sum(stop_of[tx]["reason"] == "PowerLoss" for tx in ended), "seconds": round(elapsed)}
    print("\nsigned end kill figures:", json.dumps(figures))
