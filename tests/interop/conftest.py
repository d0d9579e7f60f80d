"""Fixture `interop_csms`: the strict ocpp-rpc CSMS with default options (see tests/interop/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.interop.harness import InteropCsms, run_interop_csms


@pytest.fixture
async def interop_csms() -> AsyncIterator[InteropCsms]:
    """Accepts every idTag except BLOCKED; records everything; see InteropCsms for the helpers."""
    async with run_interop_csms("--block", "BLOCKED") as csms:
        yield csms
