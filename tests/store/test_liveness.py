"""Which nodes are live: views, reconciliation and failing calls, with no clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from store.manager import liveness
from store.manager.liveness import Liveness
from store.model import NodeState

START = Liveness(max_failures=2)


def test_a_node_in_the_view_is_joining_until_its_inventory_is_reconciled():
    state = liveness.view(START, {"n1"})
    assert state.state("n1") is NodeState.JOINING
    assert state.live() == frozenset()
    state = liveness.reconciled(state, "n1")
    assert state.state("n1") is NodeState.LIVE
    assert state.live() == {"n1"}


def test_a_node_out_of_the_view_is_down_and_must_report_again_when_it_returns():
    state = liveness.reconciled(liveness.view(START, {"n1", "n2"}), "n1")
    state = liveness.view(state, {"n2"})
    assert state.state("n1") is NodeState.DOWN
    state = liveness.view(state, {"n1", "n2"})
    assert state.state("n1") is NodeState.JOINING


def test_a_reconciliation_of_a_node_not_in_the_view_counts_for_nothing():
    state = liveness.reconciled(START, "n1")
    assert state.reconciled == frozenset()
    assert liveness.view(state, {"n1"}).state("n1") is NodeState.JOINING


def test_failing_calls_take_a_node_down_and_one_answer_brings_it_back():
    state = liveness.reconciled(liveness.view(START, {"n1"}), "n1")
    state = liveness.call_failed(state, "n1")
    assert state.state("n1") is NodeState.LIVE  # one failure is not enough
    state = liveness.call_failed(state, "n1")
    assert state.state("n1") is NodeState.DOWN
    assert liveness.call_succeeded(state, "n1").state("n1") is NodeState.LIVE


def test_a_success_between_failures_starts_the_count_again():
    state = liveness.reconciled(liveness.view(START, {"n1"}), "n1")
    state = liveness.call_failed(liveness.call_succeeded(liveness.call_failed(state, "n1"), "n1"), "n1")
    assert state.state("n1") is NodeState.LIVE


def test_a_new_session_starts_with_no_failures():
    state = liveness.reconciled(liveness.view(START, {"n1"}), "n1")
    state = liveness.call_failed(liveness.call_failed(state, "n1"), "n1")
    state = liveness.view(liveness.view(state, set()), {"n1"})
    assert state.failed_calls("n1") == 0


NODES = st.sampled_from(["n1", "n2", "n3"])
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("view"), st.frozensets(NODES)),
        st.tuples(st.just("reconciled"), NODES),
        st.tuples(st.just("failed"), NODES),
        st.tuples(st.just("succeeded"), NODES),
    ),
    max_size=30,
)


@given(EVENTS)
def test_live_nodes_are_always_in_the_view_reconciled_and_answering(events):
    state = START
    apply = {
        "view": liveness.view,
        "reconciled": liveness.reconciled,
        "failed": liveness.call_failed,
        "succeeded": liveness.call_succeeded,
    }
    for kind, argument in events:
        state = apply[kind](state, argument)
        for node in state.live():
            assert node in state.in_view and node in state.reconciled
            assert state.failed_calls(node) < state.max_failures
        assert state.reconciled <= state.in_view
