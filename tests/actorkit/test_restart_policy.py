"""The restart decision: restart with a growing backoff within the limit, escalate past it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorkit.restart_policy import (
    Escalate,
    Restart,
    RestartPolicy,
    backoff,
    decide,
    recent,
)

POLICY = RestartPolicy(
    max_restarts=5,
    window_seconds=30.0,
    backoff_initial=0.05,
    backoff_max=2.0,
    backoff_factor=2.0,
)


def test_first_failure_restarts_after_the_initial_backoff():
    assert decide(POLICY, [], now=100.0) == Restart(0.05)


def test_backoff_doubles_with_each_restart_within_the_window():
    delays = []
    times: list[float] = []
    now = 100.0
    for _ in range(POLICY.max_restarts):
        decision = decide(POLICY, times, now)
        assert isinstance(decision, Restart)
        delays.append(decision.delay)
        times.append(now)
        now += 1.0
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8])


def test_backoff_is_capped_at_backoff_max():
    policy = RestartPolicy(max_restarts=100, backoff_initial=0.5, backoff_max=2.0, backoff_factor=3.0)
    assert [backoff(policy, n) for n in range(4)] == pytest.approx([0.5, 1.5, 2.0, 2.0])
    assert backoff(policy, 10_000) == 2.0  # no OverflowError


def test_escalates_when_max_restarts_happened_within_the_window():
    times = [100.0, 101.0, 102.0, 103.0, 104.0]
    decision = decide(POLICY, times, now=105.0, child="uploader")
    assert isinstance(decision, Escalate)
    assert "uploader" in decision.reason


def test_restarts_outside_the_window_are_forgotten():
    times = [10.0, 11.0, 12.0, 13.0, 14.0]
    assert decide(POLICY, times, now=100.0) == Restart(0.05)
    # one of them still inside the window: counts once
    assert decide(POLICY, times, now=43.5) == Restart(0.1)


def test_zero_max_restarts_escalates_at_the_first_failure():
    assert isinstance(decide(RestartPolicy(max_restarts=0), [], now=1.0), Escalate)


def test_recent_keeps_only_times_within_the_window_oldest_first():
    assert recent(POLICY, [50.0, 5.0, 80.0, 20.0], now=60.0) == [50.0, 80.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_restarts": -1},
        {"window_seconds": 0},
        {"backoff_initial": -0.1},
        {"backoff_initial": 3.0, "backoff_max": 2.0},
        {"backoff_factor": 0.5},
        {"backoff_factor": float("inf")},
    ],
)
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)


policies = st.builds(
    RestartPolicy,
    max_restarts=st.integers(0, 20),
    window_seconds=st.floats(0.1, 1000.0),
    backoff_initial=st.floats(0.0, 1.0),
    backoff_max=st.floats(1.0, 60.0),
    backoff_factor=st.floats(1.0, 10.0),
)
time_lists = st.lists(st.floats(0.0, 2000.0), max_size=30)


@settings(max_examples=200, deadline=None)
@given(policy=policies, times=time_lists, now=st.floats(0.0, 2000.0))
def test_decision_follows_the_count_within_the_window(policy, times, now):
    count = sum(1 for t in times if t > now - policy.window_seconds)
    decision = decide(policy, times, now)
    if count >= policy.max_restarts:
        assert isinstance(decision, Escalate)
    else:
        assert isinstance(decision, Restart)
        assert policy.backoff_initial <= decision.delay <= policy.backoff_max


@settings(max_examples=200, deadline=None)
@given(policy=policies, count=st.integers(0, 50))
def test_backoff_never_shrinks_as_restarts_accumulate(policy, count):
    assert backoff(policy, count) <= backoff(policy, count + 1)
    assert 0.0 <= backoff(policy, count) <= policy.backoff_max


@settings(max_examples=100, deadline=None)
@given(policy=policies, times=time_lists, now=st.floats(0.0, 2000.0))
def test_old_history_does_not_change_the_decision(policy, times, now):
    assert decide(policy, times, now) == decide(policy, recent(policy, times, now), now)


# -- the defaults, and every limit at its boundary ------------------------------------------------


def test_the_defaults_are_five_restarts_in_thirty_seconds_backing_off_from_50ms_doubling_to_2s():
    assert RestartPolicy() == POLICY
    default = RestartPolicy()
    assert (default.max_restarts, default.window_seconds) == (5, 30.0)
    assert (default.backoff_initial, default.backoff_factor, default.backoff_max) == (0.05, 2.0, 2.0)
    assert [backoff(default, n) for n in range(8)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


def test_the_default_policy_escalates_at_the_sixth_failure_within_thirty_seconds():
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert decide(RestartPolicy(), times[:4], now=29.0) == Restart(pytest.approx(0.8))
    assert decide(RestartPolicy(), times, now=29.0) == Escalate(
        "child 'child' failed after 5 restarts within 30s (limit 5)"
    )
    assert decide(RestartPolicy(), times, now=30.5) == Restart(pytest.approx(0.8))  # 0.0 left the window


def test_the_escalation_names_the_child_the_count_the_window_and_the_limit():
    policy = RestartPolicy(max_restarts=2, window_seconds=7.5)
    assert decide(policy, [1.0, 2.0, 3.0], now=4.0, child="uploader") == Escalate(
        "child 'uploader' failed after 3 restarts within 7.5s (limit 2)"
    )


def test_one_restart_below_the_limit_still_restarts():
    policy = RestartPolicy(max_restarts=3)
    assert decide(policy, [1.0, 2.0], now=3.0) == Restart(pytest.approx(0.2))
    assert isinstance(decide(policy, [1.0, 2.0, 2.5], now=3.0), Escalate)


def test_a_restart_exactly_one_window_ago_no_longer_counts():
    policy = RestartPolicy(window_seconds=10.0)
    assert recent(policy, [90.0, 90.5, 95.0], now=100.0) == [90.5, 95.0]
    assert recent(policy, [], now=100.0) == []


def test_a_restart_in_the_future_counts_as_recent():
    assert recent(POLICY, [150.0, 99.0], now=100.0) == [99.0, 150.0]


def test_backoff_starts_at_the_initial_delay_and_refuses_a_negative_count():
    assert backoff(POLICY, 0) == 0.05
    with pytest.raises(ValueError, match=r"^count must be >= 0, got -1$"):
        backoff(POLICY, -1)


def test_a_backoff_that_overflows_is_the_maximum():
    policy = RestartPolicy(backoff_initial=1.0, backoff_max=5.0, backoff_factor=1e300)
    assert backoff(policy, 2) == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_restarts": 0},
        {"window_seconds": 1e-9},
        {"backoff_initial": 0.0},
        {"backoff_initial": 2.0, "backoff_max": 2.0},
        {"backoff_initial": 0.0, "backoff_max": 0.0},
        {"backoff_factor": 1.0},
    ],
)
def test_policies_at_the_edge_of_validity_are_accepted(kwargs):
    RestartPolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_restarts": -1}, "max_restarts must be >= 0, got -1"),
        ({"window_seconds": 0}, "window_seconds must be > 0, got 0"),
        ({"window_seconds": -1.0}, "window_seconds must be > 0, got -1.0"),
        ({"window_seconds": float("nan")}, "window_seconds must be > 0, got nan"),
        ({"backoff_initial": -0.1}, "need 0 <= backoff_initial <= backoff_max, got -0.1, 2.0"),
        ({"backoff_initial": 2.5}, "need 0 <= backoff_initial <= backoff_max, got 2.5, 2.0"),
        ({"backoff_factor": 0.99}, "backoff_factor must be a finite number >= 1, got 0.99"),
        ({"backoff_factor": float("inf")}, "backoff_factor must be a finite number >= 1, got inf"),
        ({"backoff_factor": float("nan")}, "backoff_factor must be a finite number >= 1, got nan"),
    ],
)
def test_invalid_policies_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError) as refused:
        RestartPolicy(**kwargs)
    assert str(refused.value) == message
