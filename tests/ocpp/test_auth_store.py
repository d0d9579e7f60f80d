"""The common authorization store (firmware/ocpp/common/auth_store.py) against a model: any sequence of
full and differential list updates, removals and cache entries leaves exactly what a dict would hold;
tokens of different types never collide; the cache keeps its most recent `cache_max` entries."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.authorization import AuthStatus
from firmware.ocpp.common.auth_store import AuthEntry, AuthStore, Token
from firmware.storage.database import StateDatabase
from firmware.storage.statedir import StateDir

T0 = datetime(2026, 1, 1, tzinfo=UTC)
tokens = st.builds(Token, st.sampled_from(["A", "B", "C", "D"]), st.sampled_from(["", "ISO14443", "Central"]))
entries = st.builds(AuthEntry, st.sampled_from(list(AuthStatus)),
                    st.one_of(st.none(), st.integers(-5, 5).map(lambda h: T0 + timedelta(hours=h))),
                    st.one_of(st.none(), st.sampled_from(["G1", "G2"])))
updates = st.lists(st.tuples(tokens, st.one_of(st.none(), entries)), max_size=6,
                   unique_by=lambda u: u[0])


def open_store(path: Path, cache_max: int = 1000) -> AuthStore:
    return AuthStore(StateDatabase(StateDir(path), "auth.sqlite3", essential=False, setup=None), cache_max)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), updates, st.integers(0, 9)), max_size=8))
def test_list_updates_match_a_model(
        steps: list[tuple[bool, list[tuple[Token, AuthEntry | None]], int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="auth201-") as tmp:
        store = open_store(Path(tmp))
        model: dict[Token, AuthEntry] = {}
        for version, (full, update, max_size) in enumerate(steps, start=1):
            after = {} if full else dict(model)
            for token, entry in update:
                if entry is None:
                    after.pop(token, None)
                else:
                    after[token] = entry
            size = store.update_list(version, full, update, max_size)
            if len(after) > max_size:
                assert size is None  # refused: nothing changed
            else:
                assert size == len(after)
                model = after
            assert store.list_size() == len(model)
            for token in {t for t, _ in update} | set(model):
                assert store.listed(token) == model.get(token)
        reopened = open_store(Path(tmp))
        assert {t: reopened.listed(t) for t in model} == model


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(tokens, entries), max_size=15), st.integers(1, 5))
def test_the_cache_keeps_the_most_recent_entries(remembered: list[tuple[Token, AuthEntry]],
                                                 cache_max: int) -> None:
    with tempfile.TemporaryDirectory(prefix="auth201-") as tmp:
        store = open_store(Path(tmp), cache_max)
        latest: dict[Token, AuthEntry] = {}
        for token, entry in remembered:
            store.remember(token, entry)
            latest.pop(token, None)
            latest[token] = entry  # most recent last
        kept = dict(list(latest.items())[-cache_max:])
        assert store.cache_size() == len(kept)
        for token in latest:
            assert store.cached(token) == kept.get(token)
        store.clear_cache()
        assert store.cache_size() == 0


def test_a_listed_token_drops_its_cache_entry(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    card = Token("CARD", "ISO14443")
    store.remember(card, AuthEntry(AuthStatus.BLOCKED))
    store.remember(Token("CARD", "Central"), AuthEntry(AuthStatus.ACCEPTED))
    store.update_list(3, False, [(card, AuthEntry(AuthStatus.ACCEPTED, group="G"))], 10)
    assert store.cached(card) is None and store.cached(Token("CARD", "Central")) is not None
    found = store.lookup(card, use_list=True, use_cache=True)
    assert found is not None and found.source == "local list" and found.entry.group == "G"
    assert store.lookup(card, use_list=False, use_cache=True) is None
    assert store.stored_list_version() == 3
