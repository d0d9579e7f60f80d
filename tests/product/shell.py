"""Running the generated bash completion script the way bash does, for the completion tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def complete(script: Path, line: str, tmp_path: Path) -> list[str]:
    """What bash offers for `line` (the cursor at its end) using the generated completion script."""
    words = line.split(" ")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    keys = bin_dir / "chargepi"  # the script asks `chargepi config keys` for key completion
    offered = "station.vendor station.serial_number sessions.retention_days"
    keys.write_text(f"#!/bin/sh\nprintf '%s\\n' {offered}\n")
    keys.chmod(0o755)
    program = (f"source {script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n_chargepi\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env, check=True)
    return [w for w in done.stdout.splitlines() if w]
