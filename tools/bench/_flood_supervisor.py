"""tools.bench.safety_flood's instrumented safety supervisor: firmware.safety.supervisor with the times of
every contactor open() recorded, and (FLOOD_RIG=1) the mocked board and the event injector in this
process, where the GPIO lines live. Results go to the file FLOOD_RESULTS when the supervisor exits."""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path
from typing import Any

import firmware.safety.supervisor as supervisor
from firmware.control.client import call
from tools.bench._flood_rig import (
    BoardActuator,
    BoardRig,
    OpenClock,
    inject,
    record_open_reasons,
    start_thread,
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

    def clear_rcd() -> None:
        call(socket, "fault-clear", fault="rcd", connector=1)

    def run() -> None:
        rig.car_level = 9.0
        time.sleep(0.1)
        rig.car_level = 6.0
        skipped: list[int] = []
        triggered.extend(inject(BoardActuator(rig, contactor, clear_rcd), int(os.environ["FLOOD_EVENTS"]),
                                opens, skipped))
        write_results(RESULTS, triggered, opens.opened_at, skipped[0], reasons)

    start_thread(run)


def dump() -> None:
    if rig is None:  # the injector lives in the controller process; it only needs the open times
        write_results(RESULTS, triggered, opens.opened_at, reasons=reasons)


supervisor.PREPARE_PARTS = instrument
atexit.register(dump)

if __name__ == "__main__":
    raise SystemExit(supervisor.main())
