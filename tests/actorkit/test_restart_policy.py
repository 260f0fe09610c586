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
    policy = RestartPolicy(
        max_restarts=100, backoff_initial=0.5, backoff_max=2.0, backoff_factor=3.0
    )
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
