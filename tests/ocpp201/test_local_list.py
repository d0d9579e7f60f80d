"""The 2.0.1 local list (D01/D02) against a model: any sequence of Full and Differential SendLocalList
requests leaves exactly the list a dict would hold, answers VersionMismatch for a Differential that is not
newer, and GetLocalListVersion follows the last accepted update."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.authorization import AuthStatus
from firmware.ocpp.common.auth_store import AuthStore, Token
from firmware.ocpp.v201.local_list import LocalList201
from hal.clock import SimClock
from tests.ocpp201 import dm_fixtures

STATUSES = ["Accepted", "Blocked", "Expired", "Invalid", "NoCredit"]
entry: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries({
    "id_token": st.fixed_dictionaries({"id_token": st.sampled_from(["A", "B", "C"]),
                                       "type": st.sampled_from(["ISO14443", "Central"])}),
    "id_token_info": st.one_of(st.none(), st.fixed_dictionaries({"status": st.sampled_from(STATUSES)})),
})
request = st.tuples(st.integers(0, 6), st.sampled_from(["Full", "Differential"]),
                    st.lists(entry, max_size=4,
                             unique_by=lambda e: (e["id_token"]["id_token"], e["id_token"]["type"])))


@settings(max_examples=80, deadline=None)
@given(st.lists(request, max_size=10))
def test_send_local_list_matches_a_model(requests: list[tuple[int, str, list[dict[str, Any]]]]) -> None:
    with tempfile.TemporaryDirectory(prefix="auth201-") as tmp:
        model = dm_fixtures.model(Path(tmp), 1)
        db = dm_fixtures.open_db(Path(tmp) / "auth")
        store = AuthStore(db, 1000)
        local = LocalList201(store, model, SimClock())
        listed: dict[Token, str] = {}
        version = 0
        for number, update_type, entries in requests:
            status = local.update(number, update_type, entries)
            if update_type == "Differential" and number <= version:
                assert status == "VersionMismatch"
                continue
            assert status == "Accepted"
            after = {} if update_type == "Full" else dict(listed)
            for e in entries:
                token = Token(e["id_token"]["id_token"], e["id_token"]["type"])
                info = e["id_token_info"]
                if info is None:
                    after.pop(token, None)
                else:
                    after[token] = info["status"]
            listed = after
            version = number if listed else 0  # an empty list reads version 0 (D02)
            assert local.version == version
        for token in {Token(t, k) for t in "ABC" for k in ("ISO14443", "Central")}:
            found = store.listed(token)
            want = listed.get(token)
            assert (found is None) == (want is None)
            if found is not None and want is not None:
                assert found.status is (AuthStatus(want) if want != "NoCredit" else AuthStatus.INVALID)
