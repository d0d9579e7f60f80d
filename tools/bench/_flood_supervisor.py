"""tools.bench.safety_flood's instrumented safety supervisor: firmware.safety.supervisor with the times of
every contactor open() recorded, and (FLOOD_RIG=1) the mocked board and the event injector in this
process, where the GPIO lines live. Results go to the file FLOOD_RESULTS when the supervisor exits."""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

import firmware.safety.supervisor as supervisor
from firmware.control.client import ControllerUnreachable, call
from tools.bench._flood_rig import (
    BoardActuator,
    BoardRig,
    OpenClock,
    inject,
    record_open_reasons,
    start_thread,
    wait_until,
    write_results,
)

RESULTS = Path(os.environ["FLOOD_RESULTS"])
opens = OpenClock()
reasons = record_open_reasons()
triggered: list[tuple[str, float]] = []
rig = BoardRig() if os.environ.get("FLOOD_RIG") == "1" else None


def instrument(parts: dict[str, Any], spec: Any) -> None:
    contactor = parts["1.contactor"]
    opens.wrap(contactor)
    if rig is None:
        return
    rig.attach_pilot(parts["1.pilot"])
    socket = Path(os.environ["FLOOD_SOCKET"])  # the controller's (the supervisor is not told it)

    def controller() -> dict[str, Any]:
        connector: dict[str, Any] = call(socket, "status")["connectors"][0]
        return connector

    def clear_rcd(fault: str) -> None:
        call(socket, "fault-clear", fault=fault, connector=1)

    def run() -> None:
        try:
            # Plug in only once the controller runs: a car already in C when it starts is not charged.
            wait_until(lambda: reachable(socket), "the controller's control socket", 120.0, poll_s=0.05)
            actuator = BoardActuator(rig, contactor, controller, clear_rcd)
            actuator.plug_in()
            skipped: list[int] = []
            triggered.extend(inject(actuator, int(os.environ["FLOOD_EVENTS"]), opens, skipped))
            write_results(RESULTS, triggered, opens.opened_at, skipped[0], reasons)
        except Exception as exc:  # the controller waits for this file: say why instead of hanging
            write_results(RESULTS, triggered, opens.opened_at, reasons=reasons, error=repr(exc))
            raise

    start_thread(run)


def reachable(socket: Path) -> bool:
    try:
        call(socket, "status")
    except ControllerUnreachable:
        return False
    return True


def dump() -> None:
    if rig is None:  # the injector lives in the controller process; it only needs the open times
        write_results(RESULTS, triggered, opens.opened_at, reasons=reasons)


supervisor.PREPARE_PARTS = instrument
atexit.register(dump)

if __name__ == "__main__":
    raise SystemExit(supervisor.main())
