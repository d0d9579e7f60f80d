"""Our replies: validated by the charger itself only with `validate_replies` (debugging); the CSMS's
requests are validated always."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v16 import call_result

from tests.ocpp.conftest import Harness, eventually


@pytest.mark.parametrize("validate", [True, False])
async def test_a_broken_reply_is_caught_only_when_asked(harness: Harness, validate: bool) -> None:
    harness.ocpp_overrides["validate_replies"] = validate
    adapter = harness.build()

    def broken(**kwargs: Any) -> Any:
        return call_result.ClearCache(status="Perhaps")  # not in the schema's enum

    adapter.register_handler("ClearCache", broken)
    await harness.start()
    await harness.csms.send_raw('[2,"c1","ClearCache",{}]')
    await harness.csms.send_raw('[2,"c2","ClearCache",{"extra":1}]')  # the CSMS's request is checked
    await eventually(lambda: bool(harness.csms.answers("c1") and harness.csms.answers("c2")))
    first = harness.csms.answers("c1")[0]
    assert first[:2] == ([4, "c1"] if validate else [3, "c1"])
    if not validate:
        assert first[2] == {"status": "Perhaps"}
    assert harness.csms.answers("c2")[0][:3] == [4, "c2", "FormationViolation"]
