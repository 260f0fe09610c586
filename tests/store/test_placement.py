"""Placement: the live node with the fewest used bytes and room takes a copy; the secondary is never the primary."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from store.model import Node, NodeState
from store.placement import elect, elect_pair


def names(nodes):
    return None if nodes is None else nodes.name


def test_elect_chooses_the_live_node_with_the_fewest_used_bytes():
    nodes = [Node("a", used_bytes=30), Node("b", used_bytes=10), Node("c", used_bytes=20)]
    assert names(elect(nodes, 5)) == "b"


def test_elect_breaks_ties_by_name():
    nodes = [Node("c", used_bytes=10), Node("a", used_bytes=10), Node("b", used_bytes=10)]
    assert names(elect(nodes, 5)) == "a"


def test_elect_never_chooses_a_down_or_joining_node():
    nodes = [
        Node("a", state=NodeState.DOWN),
        Node("b", state=NodeState.JOINING),
        Node("c", used_bytes=1_000),
    ]
    assert names(elect(nodes, 5)) == "c"
    assert elect(nodes[:2], 5) is None


def test_elect_skips_a_node_without_room_for_the_object():
    nodes = [Node("a", used_bytes=0, disk_free=4), Node("b", used_bytes=100, disk_free=None)]
    assert names(elect(nodes, 5)) == "b"
    assert names(elect([Node("a", disk_free=5)], 5)) == "a"  # exactly enough room is room
    assert elect([Node("a", disk_free=4)], 5) is None


def test_elect_skips_excluded_nodes():
    nodes = [Node("a"), Node("b", used_bytes=10)]
    assert names(elect(nodes, 5, exclude={"a"})) == "b"
    assert elect(nodes, 5, exclude={"a", "b"}) is None


def test_elect_prefers_a_preferred_node_over_an_emptier_one():
    nodes = [Node("a"), Node("b", used_bytes=100), Node("c", used_bytes=50)]
    assert names(elect(nodes, 5, prefer={"b"})) == "b"
    assert names(elect(nodes, 5, prefer={"b", "c"})) == "c"  # among preferred, the emptiest


def test_elect_ignores_a_preferred_node_that_is_excluded_down_or_full():
    nodes = [Node("a", used_bytes=10), Node("b", state=NodeState.DOWN), Node("c", disk_free=1), Node("d")]
    assert names(elect(nodes, 5, exclude={"d"}, prefer={"b", "c", "d"})) == "a"


def test_elect_of_no_nodes_is_none():
    assert elect([], 5) is None


def test_elect_pair_chooses_the_two_emptiest_distinct_nodes():
    nodes = [Node("a", used_bytes=30), Node("b", used_bytes=10), Node("c", used_bytes=20)]
    primary, secondary = elect_pair(nodes, 5)
    assert (names(primary), names(secondary)) == ("b", "c")


def test_elect_pair_never_makes_the_primary_the_secondary_even_when_it_stays_the_emptiest():
    nodes = [Node("a", used_bytes=0), Node("b", used_bytes=1_000_000)]
    primary, secondary = elect_pair(nodes, 5)
    assert (names(primary), names(secondary)) == ("a", "b")


def test_elect_pair_with_one_node_has_no_secondary():
    assert [names(n) for n in elect_pair([Node("a"), Node("b", state=NodeState.DOWN)], 5)] == ["a", None]


def test_elect_pair_with_no_node_that_can_take_it_is_none_none():
    assert elect_pair([Node("a", disk_free=1), Node("b", state=NodeState.JOINING)], 5) == (None, None)


def test_elect_pair_accepts_a_one_shot_iterable():
    primary, secondary = elect_pair(iter([Node("a"), Node("b", used_bytes=1)]), 5)
    assert (names(primary), names(secondary)) == ("a", "b")


NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])
NODE = st.builds(
    Node,
    name=NAMES,
    state=st.sampled_from(list(NodeState)),
    used_bytes=st.integers(0, 1_000),
    disk_free=st.none() | st.integers(0, 200),
)
NODES = st.lists(NODE, max_size=6, unique_by=lambda n: n.name)


@settings(max_examples=200, deadline=None)
@given(nodes=NODES, size=st.integers(1, 200), exclude=st.sets(NAMES), prefer=st.sets(NAMES))
def test_elect_chooses_a_qualifying_node_and_none_only_when_none_qualifies(nodes, size, exclude, prefer):
    qualifying = [n for n in nodes if n.live and n.has_room(size) and n.name not in exclude]
    chosen = elect(nodes, size, exclude, prefer)
    if not qualifying:
        assert chosen is None
        return
    assert chosen in qualifying
    if chosen.name not in prefer:
        assert not any(n.name in prefer for n in qualifying)
    rivals = [n for n in qualifying if (n.name in prefer) == (chosen.name in prefer)]
    assert all((chosen.used_bytes, chosen.name) <= (n.used_bytes, n.name) for n in rivals)
    assert elect(list(reversed(nodes)), size, exclude, prefer) == chosen  # order of the input does not matter


@settings(max_examples=200, deadline=None)
@given(nodes=NODES, size=st.integers(1, 200))
def test_elect_pair_gives_distinct_live_nodes_with_room(nodes, size):
    primary, secondary = elect_pair(nodes, size)
    qualifying = [n for n in nodes if n.live and n.has_room(size)]
    assert (primary is None) == (not qualifying)
    assert (secondary is None) == (len(qualifying) < 2)
    if secondary is not None:
        assert primary.name != secondary.name
        assert secondary in qualifying
    if primary is not None:
        assert primary == elect(nodes, size)
