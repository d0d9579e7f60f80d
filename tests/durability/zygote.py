"""A pre-warmed parent for the SIGKILL test: imports the controller once, then forks `chargepi run` on demand.

Each line on stdin is a config path; the zygote forks a child that runs `chargepi run --config PATH`
(`firmware.cli.main.main`, the console script's function) and prints the child's pid. The child is the
real controller process with its own state; only the interpreter start-up and imports (seconds on a
loaded 2-core machine) are paid once, so the test affords 100+ kills. Children are reaped by the kernel.
"""

from __future__ import annotations

import os
import signal
import sys

import firmware.app
import firmware.cli.main
import firmware.ocpp.v16.adapter
import firmware.smart.wiring
import hal.factory


def serve() -> None:
    assert firmware.app and firmware.ocpp.v16.adapter and firmware.smart.wiring and hal.factory  # imported
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: the kernel reaps killed children
    for line in sys.stdin:
        config = line.strip()
        if not config:
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sys.stdin.close()
            os.dup2(2, 1)  # stdout is the pid channel to the test: the controller writes to stderr only
            code = firmware.cli.main.main(["run", "--config", config])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)


if __name__ == "__main__":
    serve()
