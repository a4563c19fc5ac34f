"""The pure rules behind circuit and failover-storm Events, and their limiter."""

import pytest

from switchboard.api.status import ProviderHealth
from switchboard.proxy.kube.event_rules import (
    EventThrottle,
    Notice,
    StormDetector,
    circuit_transitions,
    store_announcements,
)

OPEN = ProviderHealth(circuit="open", error_rate=0.5, last_error="upstream answered 500: boom")
HALF = ProviderHealth(circuit="half-open")
CLOSED = ProviderHealth()


def reasons(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(n.key, n.reason) for n in notices]


def test_opening_and_closing_are_reported_half_open_is_not() -> None:
    opened = circuit_transitions({"ns/a": "closed"}, {"ns/a": OPEN, "ns/b": CLOSED}, "r1")
    assert reasons(opened) == [("ns/a", "CircuitOpened")]
    assert opened[0].type == "Warning"
    assert opened[0].message == "replica r1: circuit opened (error rate 50%; last error: upstream answered 500: boom)"
    assert circuit_transitions({"ns/a": "open"}, {"ns/a": HALF}, "r1") == []
    assert circuit_transitions({"ns/a": "half-open"}, {"ns/a": OPEN}, "r1") == []
    closed = circuit_transitions({"ns/a": "half-open"}, {"ns/a": CLOSED}, "r1")
    assert reasons(closed) == [("ns/a", "CircuitClosed")] and closed[0].type == "Normal"
    assert reasons(circuit_transitions({}, {"ns/new": OPEN}, "r1")) == [("ns/new", "CircuitOpened")]
    assert circuit_transitions({}, {"ns/new": CLOSED}, "r1") == []


def test_a_storm_is_reported_once_when_it_crosses_the_threshold() -> None:
    detector = StormDetector(threshold=5, window_s=10)
    assert detector.observe({"ns/p": 0}, 0.0, "r1") == []
    assert detector.observe({"ns/p": 4}, 2.0, "r1") == []  # 4 retried in the window
    storm = detector.observe({"ns/p": 5}, 4.0, "r1")
    assert reasons(storm) == [("ns/p", "FailoverStorm")]
    assert "5 attempts retried" in storm[0].message and "within 10s" in storm[0].message
    assert detector.observe({"ns/p": 9}, 6.0, "r1") == []  # still storming: no repeat
    assert detector.observe({"ns/p": 9}, 16.0, "r1") == []  # calm: nothing retried for 10 s
    assert detector.observe({"ns/p": 9}, 30.0, "r1") == []
    assert reasons(detector.observe({"ns/p": 20}, 31.0, "r1")) == [("ns/p", "FailoverStorm")]


def test_a_profile_first_seen_counts_from_zero() -> None:
    detector = StormDetector(threshold=5, window_s=10)
    assert detector.observe({}, 0.0, "r1") == []
    assert reasons(detector.observe({"ns/p": 6}, 1.0, "r1")) == [("ns/p", "FailoverStorm")]


def test_a_slow_trickle_of_retries_is_no_storm() -> None:
    detector = StormDetector(threshold=5, window_s=10)
    for tick in range(100):  # one retry every 3 s: at most 4 within any 10 s
        assert detector.observe({"ns/p": tick}, tick * 3.0, "r1") == []


def test_a_storm_needs_a_positive_threshold_and_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        StormDetector(threshold=0, window_s=10)


def test_the_limiter_lets_one_through_per_interval_and_counts_the_rest() -> None:
    limiter = EventThrottle(min_interval_s=60)
    opened = Notice("ns/a", "Warning", "CircuitOpened", "opened")
    closed = Notice("ns/a", "Normal", "CircuitClosed", "closed")
    assert limiter.admit(opened, 0.0) == opened
    assert limiter.admit(closed, 1.0) == closed  # another reason: its own budget
    assert limiter.admit(Notice("ns/b", "Warning", "CircuitOpened", "b"), 1.0) is not None  # another object
    admitted = [limiter.admit(n, 2.0 + i) for i, n in enumerate([opened, closed] * 10)]
    assert admitted == [None] * 20
    later = limiter.admit(opened, 61.0)
    assert later is not None
    assert later.message == "opened (10 more CircuitOpened since the last such Event were not posted)"
    assert limiter.admit(opened, 62.0) is None
    assert limiter.admit(opened, 200.0) == Notice(
        "ns/a", "Warning", "CircuitOpened", "opened (1 more CircuitOpened since the last such Event were not posted)"
    )


def test_the_store_is_announced_down_once_and_up_again_even_after_an_outage_between_ticks() -> None:
    assert store_announcements(True, 0, True, 0) == []
    assert store_announcements(True, 0, False, 1) == [False]
    assert store_announcements(False, 1, False, 1) == []  # still down: one Warning
    assert store_announcements(False, 1, True, 1) == [True]
    assert store_announcements(True, 1, True, 2) == [False, True]  # down and back within one tick
