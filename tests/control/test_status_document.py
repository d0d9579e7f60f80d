"""`chargepi status --json` follows the checked-in, versioned JSON schema in every state."""

import json
from pathlib import Path

import jsonschema
import pytest

import firmware.control
from firmware.cli.status_cmd import render

SCHEMA = json.loads((Path(firmware.control.__file__).parent / "status.schema.json").read_text())


def check(doc):
    jsonschema.validate(doc, SCHEMA)
    assert render(doc)  # the human view copes with the same document


async def test_status_document_matches_schema_through_a_session(make_harness):
    h = await make_harness(connectors=[{"id": 1}, {"id": 2, "phases": 1}])
    check(h.station.snapshot())
    h.sim.plug()
    await h.advance(3)
    doc = h.station.snapshot()
    check(doc)
    c1 = doc["connectors"][0]
    assert c1["status"] == "Charging" and c1["cp_state"] == "C"
    assert c1["pwm_duty_percent"] == pytest.approx(53.33, abs=0.01)
    assert c1["contactor"] == {"closed": True, "feedback_closed": True}
    assert c1["session"]["id_tag"] is None
    assert c1["meter"]["current_a"] == [32.0, 32.0, 32.0]
    h.sim.inject("rcd")
    await h.advance(1)
    check(h.station.snapshot())
    assert h.station.snapshot()["connectors"][0]["faults"] == ["rcd"]


def test_schema_rejects_a_broken_document():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema_version": 2}, SCHEMA)
