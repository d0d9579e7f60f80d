"""`--watch`: redraw a status view every second until Ctrl-C, surviving controller restarts."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from firmware.control.client import CommandFailed, ControllerUnreachable

CLEAR = "\033[H\033[2J"


def watch(fetch: Callable[[], Any], render: Callable[[Any], str], *, interval_s: float = 1.0,
          rounds: int | None = None, out: TextIO | None = None,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Show render(fetch()) every `interval_s` (`rounds` times, or until Ctrl-C). While the controller
    is unreachable (restarting, stopped) the view says so and keeps trying."""
    stream = out or sys.stdout
    tty = stream.isatty()
    done = 0
    try:
        while rounds is None or done < rounds:
            try:
                view = render(fetch())
            except (ControllerUnreachable, CommandFailed) as exc:
                view = f"controller not answering: {exc}\n(retrying every {interval_s:g} s; Ctrl-C to quit)"
            stamp = datetime.now().astimezone().strftime("%H:%M:%S")
            stream.write((CLEAR if tty else "") + f"[{stamp}] chargepi status (Ctrl-C to quit)\n{view}\n")
            if not tty:
                stream.write("\n")
            stream.flush()
            done += 1
            if rounds is None or done < rounds:
                sleep(interval_s)
    except KeyboardInterrupt:
        stream.write("\n")
    return 0
