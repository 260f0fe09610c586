"""The supervisor starts children in order, restarts rest_for_one, escalates past the limit."""

from __future__ import annotations

import threading

import pykka
import pytest

from actorkit.messaging import tell_call
from actorkit.restart_policy import RestartPolicy
from actorkit.supervisor import ChildSpec, Supervisor
from tests.polling import eventually as wait_until

pytestmark = pytest.mark.timeout(60)

FAST = RestartPolicy(max_restarts=5, window_seconds=30.0, backoff_initial=0.01, backoff_max=0.05)
CHECK = 0.01


class Member(pykka.ThreadingActor):
    """A child that records its stop, answers pings, crashes on demand, and remembers its siblings."""

    def __init__(self, name: str, events: list, siblings, fail_on_start: bool = False) -> None:
        super().__init__()
        self._name = name
        self._events = events
        self._siblings = dict(siblings)
        self._fail_on_start = fail_on_start

    def on_start(self) -> None:
        if self._fail_on_start:
            raise RuntimeError(f"{self._name} cannot start")

    def on_stop(self) -> None:
        self._events.append(("stop", self._name))

    def ping(self) -> str:
        return self.actor_urn

    def crash(self) -> None:
        raise RuntimeError(f"{self._name} crashed")

    def sibling_urn(self, name: str) -> str:
        return self._siblings[name].actor_ref.actor_urn


def member(name: str, events: list, **kwargs) -> ChildSpec:
    """A spec whose factory records ("start", name, earlier sibling names) and starts a Member."""

    def start(siblings):
        events.append(("start", name, tuple(siblings)))
        return Member.start(name, events, siblings, **kwargs)

    return ChildSpec(name, start)


def starts(events: list, name: str) -> int:
    return sum(1 for event in events if event[0] == "start" and event[1] == name)


def stops(events: list) -> list[str]:
    return [event[1] for event in events if event[0] == "stop"]


def urn(proxy: pykka.ActorProxy) -> str:
    return proxy.actor_ref.actor_urn


@pytest.fixture
def events() -> list:
    return []


def test_children_start_in_order_with_earlier_siblings_and_stop_in_reverse(events):
    ref = Supervisor.start([member(n, events) for n in "abc"], policy=FAST, check_interval=CHECK)
    sup = ref.proxy()

    kids = sup.children().get()

    assert list(kids) == ["a", "b", "c"]
    assert events == [
        ("start", "a", ()),
        ("start", "b", ("a",)),
        ("start", "c", ("a", "b")),
    ]
    assert kids["c"].sibling_urn("a").get() == urn(kids["a"])
    assert kids["c"].sibling_urn("b").get() == urn(kids["b"])
    assert kids["b"].sibling_urn("a").get() == urn(kids["a"])

    ref.stop()

    assert stops(events) == ["c", "b", "a"]
    assert not any(proxy.actor_ref.is_alive() for proxy in kids.values())
    assert pykka.ActorRegistry.get_all() == []


def test_crash_on_told_message_restarts_the_child_and_those_after_it_with_its_new_proxy(
    events,
):
    ref = Supervisor.start([member(n, events) for n in "abc"], policy=FAST, check_interval=CHECK)
    sup = ref.proxy()
    before = sup.children().get()

    tell_call(before["b"], "crash")

    wait_until(
        lambda: sup.restarts().get() == {"a": 0, "b": 1, "c": 1},
        what="b and c restarted",
    )
    after = sup.children().get()
    new_b = sup.child("b").get()
    assert new_b.ping().get() == urn(after["b"]) != urn(before["b"])
    assert not before["b"].actor_ref.is_alive()
    assert not before["c"].actor_ref.is_alive()
    # c was started again, after the new b, and holds the new b
    assert urn(after["c"]) != urn(before["c"])
    assert after["c"].sibling_urn("b").get() == urn(new_b)
    assert events[-2:] == [("start", "b", ("a",)), ("start", "c", ("a", "b"))]
    # a is untouched
    assert urn(after["a"]) == urn(before["a"])
    assert after["a"].ping().get() == urn(before["a"])
    assert starts(events, "a") == 1
    assert stops(events) == ["c"]  # the crashed b had no on_stop, a was never stopped


def test_child_stopped_by_someone_else_is_restarted(events):
    ref = Supervisor.start([member(n, events) for n in "ab"], policy=FAST, check_interval=CHECK)
    sup = ref.proxy()
    old_a = sup.child("a").get()

    old_a.actor_ref.stop()

    wait_until(lambda: sup.restarts().get() == {"a": 1, "b": 1}, what="a and b restarted")
    new_a = sup.child("a").get()
    assert urn(new_a) != urn(old_a)
    assert sup.child("b").get().sibling_urn("a").get() == urn(new_a)


def test_a_factory_that_raises_counts_as_a_failed_start_and_is_retried(events):
    calls = []

    def flaky(siblings):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("port in use")
        return Member.start("flaky", events, siblings)

    ref = Supervisor.start(
        [member("a", events), ChildSpec("flaky", flaky)],
        policy=FAST,
        check_interval=CHECK,
    )
    sup = ref.proxy()

    wait_until(lambda: sup.restarts().get() == {"a": 0, "flaky": 1}, what="flaky restarted")
    assert sup.child("flaky").get().ping().get()
    assert len(calls) == 2


def test_child_failing_in_on_start_is_retried_then_the_supervisor_escalates(events):
    escalations: list[str] = []
    policy = RestartPolicy(max_restarts=2, window_seconds=30.0, backoff_initial=0.01, backoff_max=0.05)
    specs = [
        member("a", events),
        member("b", events, fail_on_start=True),
        member("c", events),
    ]

    ref = Supervisor.start(specs, policy=policy, on_escalate=escalations.append, check_interval=CHECK)

    wait_until(lambda: not ref.is_alive(), what="the supervisor to stop")
    assert len(escalations) == 1
    assert "'b'" in escalations[0]
    assert starts(events, "b") == 3  # the first start and two restarts
    assert starts(events, "a") == 1  # before b: never restarted
    assert stops(events).count("a") == 1  # stopped once, by the escalation
    assert stops(events)[-1] == "a"
    wait_until(lambda: pykka.ActorRegistry.get_all() == [], what="every child stopped")


def test_no_restart_during_normal_shutdown(events):
    slow = RestartPolicy(backoff_initial=60.0, backoff_max=60.0)
    ref = Supervisor.start(
        [member(n, events) for n in "abc"],
        policy=slow,
        check_interval=CHECK,
        name="shutdown-sup",
    )
    sup = ref.proxy()
    tell_call(sup.child("b").get(), "crash")

    def b_is_down() -> bool:
        try:
            sup.child("b").get()
        except pykka.ActorDeadError:
            return True
        return False

    wait_until(b_is_down, what="b down, its restart scheduled")
    assert stops(events) == ["c"]

    ref.stop()

    assert sup is not None and not ref.is_alive()
    assert stops(events) == ["c", "a"]
    assert starts(events, "b") == 1
    assert starts(events, "c") == 1
    assert pykka.ActorRegistry.get_all() == []
    assert not [t for t in threading.enumerate() if t.name == "shutdown-sup-check" and t.is_alive()]


def test_stopping_a_healthy_supervisor_restarts_nothing_and_ends_its_check_thread(
    events,
):
    ref = Supervisor.start(
        [member(n, events) for n in "abc"],
        policy=FAST,
        check_interval=CHECK,
        name="calm-sup",
    )
    sup = ref.proxy()
    assert sup.restarts().get() == {"a": 0, "b": 0, "c": 0}
    assert any(t.name == "calm-sup-check" for t in threading.enumerate())

    ref.stop()

    assert stops(events) == ["c", "b", "a"]
    assert [event for event in events if event[0] == "start"] == [
        ("start", "a", ()),
        ("start", "b", ("a",)),
        ("start", "c", ("a", "b")),
    ]
    assert pykka.ActorRegistry.get_all() == []
    assert not [t for t in threading.enumerate() if t.name == "calm-sup-check" and t.is_alive()]


def test_unknown_child_name_is_a_key_error_and_does_not_hurt_the_supervisor(events):
    ref = Supervisor.start([member("a", events)], policy=FAST, check_interval=CHECK)
    sup = ref.proxy()

    with pytest.raises(KeyError):
        sup.child("nope").get()

    assert ref.is_alive()
    assert sup.child("a").get().ping().get()


def test_nested_supervisor_escalation_is_a_child_death_for_its_parent(events):
    once = RestartPolicy(max_restarts=1, window_seconds=30.0, backoff_initial=0.01, backoff_max=0.05)
    inner_escalations: list[str] = []
    parent_escalations: list[str] = []

    def inner(siblings):
        events.append(("start", "inner", tuple(siblings)))
        return Supervisor.start(
            [member("x", events, fail_on_start=True)],
            policy=once,
            on_escalate=inner_escalations.append,
            check_interval=CHECK,
            name="inner",
        )

    specs = [member("a", events), ChildSpec("inner", inner), member("c", events)]
    ref = Supervisor.start(
        specs,
        policy=once,
        on_escalate=parent_escalations.append,
        check_interval=CHECK,
        name="parent",
    )

    wait_until(lambda: not ref.is_alive(), what="the parent supervisor to escalate and stop")
    # the inner supervisor escalated twice (first run, its restart); the parent restarted it once, then gave up
    assert len(inner_escalations) == 2
    assert all("'x'" in reason for reason in inner_escalations)
    assert parent_escalations == [parent_escalations[0]]
    assert "'inner'" in parent_escalations[0]
    assert starts(events, "inner") == 2
    assert starts(events, "x") == 4
    assert starts(events, "c") == 2  # after inner: restarted with it
    assert starts(events, "a") == 1  # before inner: untouched
    wait_until(lambda: pykka.ActorRegistry.get_all() == [], what="every actor stopped")


def test_one_for_one_restarts_only_the_child_that_died(events):
    supervisor = Supervisor.start(
        [member("a", events), member("b", events), member("c", events)],
        policy=FAST,
        check_interval=CHECK,
        strategy="one_for_one",
    ).proxy()
    a, b, c = (supervisor.child(name).get() for name in "abc")
    tell_call(b, "crash")
    wait_until(lambda: supervisor.restarts().get()["b"] == 1, what="b's restart")
    new_b = wait_until(lambda: _up(supervisor, "b"), what="b to be up")
    assert urn(new_b) != urn(b)
    assert (urn(supervisor.child("a").get()), urn(supervisor.child("c").get())) == (urn(a), urn(c))
    assert stops(events) == []  # b crashed (no on_stop), a and c were never stopped
    assert supervisor.restarts().get() == {"a": 0, "b": 1, "c": 0}
    supervisor.actor_ref.stop()


def test_one_for_one_goes_on_starting_the_others_when_one_cannot_start(events):
    escalated = []
    supervisor = Supervisor.start(
        [member("a", events), member("b", events, fail_on_start=True), member("c", events)],
        policy=FAST,
        check_interval=CHECK,
        strategy="one_for_one",
        on_escalate=escalated.append,
    )
    wait_until(lambda: escalated, what="b to exhaust its restarts")
    assert starts(events, "c") == 1  # c started once, and was only stopped by the escalation
    assert "child 'b' failed after 5 restarts" in escalated[0]
    wait_until(lambda: not supervisor.is_alive(), what="the supervisor to stop")


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy"):
        Supervisor(specs=[], strategy="all_for_none")


def _up(supervisor, name):
    try:
        return supervisor.child(name).get()
    except pykka.ActorDeadError:
        return None
