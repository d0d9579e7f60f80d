"""`chargepi run` with a state directory it cannot write: one line naming the directory and the fix,
exit code 5."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.cli.common import EXIT_STATE_DIR


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """A directory the controller cannot write: a read-only mount as root (root ignores modes), else 0555."""
    path = Path(tempfile.mkdtemp(prefix="cpro"))
    mounted = False
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], check=True)
        mounted = True
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)
        path.chmod(0o755)
        path.rmdir()


def test_unwritable_state_dir_is_one_line_with_the_fix(read_only_dir: Path, tmp_path: Path) -> None:
    state = read_only_dir / "state"  # cannot even be created
    config = tmp_path / "chargepi.toml"
    for target in (state, read_only_dir):
        config.write_text(f'[station]\nstate_dir = "{target}"\n[[connectors]]\nid = 1\n')
        result = subprocess.run([sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == EXIT_STATE_DIR == 5
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"chargepi: state directory {target} is not writable")
        assert "chown" in lines[0] and "state_dir" in lines[0]
