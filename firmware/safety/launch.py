"""Starting the safety supervisor's interpreter, if need be before the controller has read its settings.

A new Python interpreter that imports the settings models takes about a quarter of a second here; waited
for after the controller's own start-up it made up a third of `chargepi run`'s time to BootNotification.
So `chargepi run` launches the supervisor first thing (`prelaunch`, firmware.cli.run_cmd): its start and
imports run on another core while the controller reads its settings and builds its features, and the
supervisor then waits for its settings on stdin, sent by firmware.safety.process once the controller has
them. A supervisor that is not needed after all (the settings say `inline`, or they are invalid) reads
end-of-file instead and exits; so does one whose controller dies before sending them.

This module imports nothing heavy: it runs before the settings models exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from firmware.safety.link import Link

SUPERVISOR_MODULE = "firmware.safety.supervisor"
SUPERVISOR_ENV = "CHARGEPI_STATION__SUPERVISOR"


class Launch:
    """The links to one supervisor process, and the process once spawned (it waits for its spec)."""

    def __init__(self) -> None:
        self.link, self._theirs = Link.pair()
        self.world, self._world_theirs = Link.pair()  # the simulated world's lines, with the fake HAL
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self, module: str = SUPERVISOR_MODULE) -> None:
        fds = (self._theirs.fileno(), self._world_theirs.fileno())
        argv = [sys.executable, "-m", module, "--fd", str(fds[0]), "--world-fd", str(fds[1])]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=fds,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._theirs.close()
        self._world_theirs.close()

    def send_spec(self, spec: dict[str, Any]) -> None:
        """What the supervisor is to supervise (it waits for this after its imports)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(spec).encode())
        self.process.stdin.close()

    def cancel(self) -> None:
        """Not needed after all: the supervisor reads end-of-file instead of a spec and exits."""
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        self.link.close()
        self.world.close()
        if self.process is not None:
            self.process.wait()


def inline_requested(config: Path | None) -> bool:
    """Whether the environment or the config file asks for `supervisor = "inline"` (read cheaply: only a
    hint for `prelaunch`; the validated settings decide whether the supervisor is used)."""
    from_env = [value for name, value in os.environ.items() if name.upper() == SUPERVISOR_ENV]
    if from_env:
        return from_env[0] == "inline"
    try:
        station = tomllib.loads(config.read_text(encoding="utf-8")).get("station", {}) if config else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # the settings will report it
    return isinstance(station, dict) and station.get("supervisor") == "inline"


def prelaunch(config: Path | None) -> Launch | None:
    """Launch the supervisor now, before the settings are read, unless they ask for none."""
    if inline_requested(config):
        return None
    launch = Launch()
    launch.spawn()
    return launch
