"""The status document's spellings (firmware/core/published.py): every neutral state and fault has its
historical label, the schema lists exactly those, and a connector shows both `status` and `state`."""

from __future__ import annotations

import json
from pathlib import Path

import firmware.control
from firmware.core.published import ERROR_CODE, STATUS, error_label, status_label
from firmware.core.vocabulary import FAULTS, ConnectorState, Fault
from tests.conftest import HarnessFactory

SCHEMA = json.loads((Path(firmware.control.__file__).parent / "status.schema.json").read_text())
CONNECTOR = SCHEMA["properties"]["connectors"]["items"]["properties"]


def test_every_state_has_one_status_label_and_the_schema_lists_both_spellings() -> None:
    assert set(STATUS) == set(ConnectorState)
    assert len(set(STATUS.values())) == len(STATUS)  # a script can tell every state apart by its label
    assert CONNECTOR["status"]["enum"] == list(STATUS.values())
    assert CONNECTOR["state"]["enum"] == [s.value for s in ConnectorState]


def test_every_fault_has_an_error_code_label() -> None:
    assert set(ERROR_CODE) == set(Fault) == set(FAULTS)
    assert error_label(None) == "NoError" and "NoError" not in ERROR_CODE.values()


async def test_a_connector_shows_its_state_by_both_names(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    h.sim.plug()
    await h.advance(3)
    c1 = h.station.snapshot()["connectors"][0]
    assert (c1["status"], c1["state"]) == ("Charging", "charging")
    h.sim.inject("rcd")
    await h.advance(1)
    c1 = h.station.snapshot()["connectors"][0]
    assert (c1["status"], c1["state"], c1["error_code"], c1["vendor_error_code"]) == \
        (status_label(ConnectorState.FAULTED), "faulted", "GroundFailure", "CX002")
