"""The 2.0.1 tests' charger: unless a test says otherwise (`station={"free_charging": False}`), it charges
free at the plug (`[station] free_charging`, hence AuthCtrlr.Enabled false), as every 2.0.1 charger did
before 2.0.1 authorization existed; the authorization tests switch it off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness, HarnessFactory


@pytest.fixture
def make_harness(make_harness: HarnessFactory) -> HarnessFactory:
    async def make(*, station: dict[str, Any] | None = None, **kwargs: Any) -> Harness:
        harness: Harness = await make_harness(station={"free_charging": True, **(station or {})}, **kwargs)
        return harness

    return make
