"""The one publish/subscribe rule (hal.pubsub): synchronous in the publisher's thread, a failing subscriber
is logged and does not stop the others, nested publishes keep the order, membership is thread-safe."""

from __future__ import annotations

import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.pubsub import Subscribers, Watched


def test_every_subscriber_gets_the_value_in_subscription_order() -> None:
    subs: Subscribers[int] = Subscribers("test")
    seen: list[tuple[str, int]] = []
    subs.subscribe(lambda v: seen.append(("a", v)))
    subs.subscribe(lambda v: seen.append(("b", v)))
    subs.publish(1)
    assert seen == [("a", 1), ("b", 1)]


def test_subscribers_run_in_the_publishing_thread_before_publish_returns() -> None:
    subs: Subscribers[int] = Subscribers("test")
    threads: list[threading.Thread] = []
    subs.subscribe(lambda v: threads.append(threading.current_thread()))
    worker = threading.Thread(target=subs.publish, args=(1,), name="cp-monitor")
    worker.start()
    worker.join()
    assert threads == [worker]


def test_a_subscriber_that_raises_is_logged_and_the_others_still_get_the_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subs: Subscribers[int] = Subscribers("control pilot")
    seen: list[int] = []

    def broken(value: int) -> None:
        raise RuntimeError("boom")

    subs.subscribe(seen.append)
    subs.subscribe(broken)
    subs.subscribe(lambda v: seen.append(v * 10))
    with caplog.at_level(logging.ERROR, logger="hal.pubsub"):
        subs.publish(4)  # does not raise
    assert seen == [4, 40]
    [record] = caplog.records
    assert "control pilot" in record.getMessage() and "broken" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_value_published_by_a_subscriber_waits_until_the_current_one_reached_everyone() -> None:
    subs: Subscribers[int] = Subscribers("test")
    seen: list[tuple[str, int]] = []

    def first(value: int) -> None:
        seen.append(("first", value))
        if value == 1:
            subs.publish(2)  # e.g. a status change caused while handling an event

    subs.subscribe(first)
    subs.subscribe(lambda v: seen.append(("second", v)))
    subs.publish(1)
    assert seen == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_a_failing_subscriber_does_not_lose_the_queued_values() -> None:
    subs: Subscribers[int] = Subscribers("test")
    seen: list[int] = []

    def republish_then_fail(value: int) -> None:
        if value == 1:
            subs.publish(2)
            raise ValueError("after publishing")

    subs.subscribe(republish_then_fail)
    subs.subscribe(seen.append)
    subs.publish(1)
    subs.publish(3)  # the list is usable afterwards, not stuck "delivering"
    assert seen == [1, 2, 3]


def test_unsubscribing_inside_a_subscriber_takes_effect_from_the_next_value() -> None:
    subs: Subscribers[int] = Subscribers("test")
    seen: list[int] = []
    unsubscribe_b = None

    def a(value: int) -> None:
        assert unsubscribe_b is not None
        unsubscribe_b()

    subs.subscribe(a)
    unsubscribe_b = subs.subscribe(seen.append)
    subs.publish(1)
    subs.publish(2)
    assert seen == [1]
    unsubscribe_b()  # twice is harmless
    assert len(subs) == 1


def test_publishing_from_two_threads_at_once_delivers_each_in_its_own_thread() -> None:
    subs: Subscribers[int] = Subscribers("test")
    inside = threading.Event()
    release = threading.Event()
    seen: list[tuple[int, str]] = []

    def slow(value: int) -> None:
        seen.append((value, threading.current_thread().name))
        if value == 1:
            inside.set()
            release.wait(5)

    subs.subscribe(slow)
    first = threading.Thread(target=subs.publish, args=(1,), name="t1")
    first.start()
    inside.wait(5)
    subs.publish(2)  # not queued behind the other thread's delivery
    release.set()
    first.join()
    assert sorted(seen) == [(1, "t1"), (2, "MainThread")]


@given(st.lists(st.integers(), max_size=20))
def test_watched_notifies_only_changes(values: list[int]) -> None:
    watched: Watched[int] = Watched(0, "test")
    seen: list[int] = []
    watched.subscribers.subscribe(seen.append)
    expected, last = [], 0
    for value in values:
        for notification in watched.update(value):
            notification()
        if value != last:
            expected.append(value)
        last = value
    assert seen == expected and watched.value == (values[-1] if values else 0)
