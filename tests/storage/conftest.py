"""Fixtures: a real small filesystem (tmpfs, as root) that tests fill up to the last block."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.ocpp.csms import TestCsms


class SmallDisk:
    """A tmpfs of `size_kb` mounted at `path`; `fill()` takes every free block, `free()` gives them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        with self.filler.open("ab", buffering=0) as f:
            for size in (2**20, 4096, 1):
                chunk = bytes(size)
                with contextlib.suppress(OSError):
                    while f.write(chunk):
                        pass
        assert self.free_bytes() == 0

    def free(self) -> None:
        self.filler.unlink()

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (the CI container runs as root)")
    path = Path(tempfile.mkdtemp(prefix="cpfull"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms()
    yield server
    await server.stop()
