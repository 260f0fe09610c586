"""Repair planning: copies that bring every object back to two good copies, removals that never go below two."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from store.model import SPOOL, Node, NodeState, Replica, StoredObject, live_names
from store.repair import CopyTask, RemoveTask, plan_copies, plan_removals

SHA = "a" * 64
OLD = "b" * 64


def nodes_of(*nodes: Node) -> dict[str, Node]:
    return {n.name: n for n in nodes}


def obj(object_id: str, *replicas: tuple[str, str, int], size: int = 10, spooled: bool = False) -> StoredObject:
    """An object whose replicas are (node, sha256, seq)."""
    return StoredObject(
        id=object_id,
        size=size,
        sha256=SHA,
        version=3,
        replicas=tuple(Replica(node, sha, seq) for node, sha, seq in replicas),
        spooled=spooled,
    )


LIVE4 = nodes_of(Node("n1"), Node("n2"), Node("n3"), Node("n4"))


# -- plan_copies --


def test_an_object_with_two_good_copies_needs_no_copy():
    assert plan_copies([obj("p", ("n1", SHA, 1), ("n2", SHA, 2))], LIVE4, limit=10) == []


def test_a_copy_of_an_object_on_a_down_node_goes_from_its_live_copy_to_the_emptiest_other_node():
    nodes = nodes_of(
        Node("n1", state=NodeState.DOWN),
        Node("n2", used_bytes=50),
        Node("n3", used_bytes=30),
        Node("n4", used_bytes=40),
    )
    tasks = plan_copies([obj("p", ("n1", SHA, 1), ("n2", SHA, 2))], nodes, limit=10)
    assert tasks == [CopyTask("p", 3, SHA, 10, source="n2", target="n3", good_copies=1)]


def test_the_source_is_the_oldest_good_live_copy():
    nodes = nodes_of(Node("n1"), Node("n2"), Node("n3", state=NodeState.DOWN), Node("n4"))
    # replicas out of order: n2's copy is the oldest (seq 1)
    tasks = plan_copies([obj("p", ("n1", SHA, 5), ("n2", SHA, 1), ("n3", SHA, 0))], nodes, limit=10)
    assert tasks == []  # n1 and n2 are two good live copies
    tasks = plan_copies([obj("p", ("n1", SHA, 5), ("n2", OLD, 1), ("n3", SHA, 0))], nodes, limit=10)
    assert [(t.source, t.good_copies) for t in tasks] == [("n1", 1)]


def test_a_spooled_object_with_no_good_live_copy_is_copied_from_the_spool():
    tasks = plan_copies([obj("p", spooled=True)], LIVE4, limit=10)
    assert [(t.source, t.target, t.good_copies) for t in tasks] == [(SPOOL, "n1", 0)]


def test_an_object_with_no_good_live_copy_and_no_spool_waits_for_a_node_to_return():
    nodes = nodes_of(Node("n1", state=NodeState.DOWN), Node("n2"), Node("n3"))
    assert plan_copies([obj("p", ("n1", SHA, 1), ("n2", OLD, 2))], nodes, limit=10) == []


def test_copies_on_a_joining_node_do_not_count_and_a_joining_node_takes_no_copy():
    nodes = nodes_of(Node("n1", state=NodeState.JOINING), Node("n2"), Node("n3", used_bytes=5))
    tasks = plan_copies([obj("p", ("n1", SHA, 1), ("n2", SHA, 2))], nodes, limit=10)
    assert [(t.source, t.target) for t in tasks] == [("n2", "n3")]


def test_the_target_never_holds_a_good_copy_already():
    nodes = nodes_of(Node("n1"), Node("n2", used_bytes=100))
    assert [t.target for t in plan_copies([obj("p", ("n1", SHA, 1))], nodes, limit=10)] == ["n2"]


def test_a_node_with_a_stale_copy_is_preferred_so_the_copy_is_overwritten_in_place():
    nodes = nodes_of(Node("n1"), Node("n2"), Node("n3", used_bytes=1_000))
    tasks = plan_copies([obj("p", ("n1", SHA, 1), ("n3", OLD, 2))], nodes, limit=10)
    assert [(t.source, t.target) for t in tasks] == [("n1", "n3")]


def test_targets_that_already_failed_for_the_object_are_not_elected_again():
    tasks = plan_copies([obj("p", ("n1", SHA, 1))], LIVE4, limit=10, failed={"p": {"n2", "n3"}})
    assert [t.target for t in tasks] == ["n4"]
    assert plan_copies([obj("p", ("n1", SHA, 1))], LIVE4, limit=10, failed={"p": {"n2", "n3", "n4"}}) == []
    # a failure for another object does not matter
    assert [t.target for t in plan_copies([obj("p", ("n1", SHA, 1))], LIVE4, 10, failed={"q": {"n2"}})] == ["n2"]


def test_a_busy_object_gets_no_second_task():
    objects = [obj("p", ("n1", SHA, 1)), obj("q", ("n1", SHA, 2))]
    assert [t.object_id for t in plan_copies(objects, LIVE4, limit=10, busy={"p"})] == ["q"]


def test_an_object_with_no_good_copy_gets_one_task_per_call():
    tasks = plan_copies([obj("p", spooled=True)], LIVE4, limit=10)
    assert len(tasks) == 1


def test_objects_left_with_one_copy_come_before_spool_only_ones_then_by_id():
    objects = [
        obj("d", spooled=True),
        obj("c", ("n1", SHA, 1)),
        obj("b", spooled=True),
        obj("a", ("n2", SHA, 2)),
    ]
    tasks = plan_copies(objects, LIVE4, limit=10)
    assert [(t.object_id, t.good_copies) for t in tasks] == [("a", 1), ("c", 1), ("b", 0), ("d", 0)]


def test_the_limit_keeps_the_objects_left_with_one_copy():
    objects = [obj("a", spooled=True), obj("b", ("n1", SHA, 1)), obj("c", ("n1", SHA, 2))]
    assert [t.object_id for t in plan_copies(objects, LIVE4, limit=2)] == ["b", "c"]
    assert plan_copies(objects, LIVE4, limit=0) == []


def test_bytes_planned_in_the_same_call_spread_the_copies_over_the_nodes():
    objects = [obj(f"p{i:02}", ("n1", SHA, i), size=10) for i in range(30)]
    tasks = plan_copies(objects, LIVE4, limit=100)
    per_target = {name: sum(1 for t in tasks if t.target == name) for name in ("n2", "n3", "n4")}
    assert per_target == {"n2": 10, "n3": 10, "n4": 10}


def test_a_node_that_would_be_full_with_the_bytes_planned_is_not_elected():
    nodes = nodes_of(Node("n1"), Node("n2", disk_free=25), Node("n3", used_bytes=1_000, disk_free=None))
    objects = [obj(f"p{i}", ("n1", SHA, i), size=10) for i in range(4)]
    tasks = plan_copies(objects, nodes, limit=10)
    assert [t.target for t in tasks] == ["n2", "n2", "n3", "n3"]


def test_no_task_when_no_node_can_take_the_copy():
    nodes = nodes_of(Node("n1"), Node("n2", disk_free=5), Node("n3", state=NodeState.DOWN))
    assert plan_copies([obj("p", ("n1", SHA, 1), size=10)], nodes, limit=10) == []


def test_a_copy_task_carries_the_current_version_sha_and_size():
    (task,) = plan_copies([obj("p", ("n1", SHA, 1), size=1234)], LIVE4, limit=1)
    assert (task.version, task.sha256, task.size) == (3, SHA, 1234)


# -- plan_removals --


def test_a_returning_nodes_original_copy_stays_and_the_replacement_copy_goes():
    # n1 held p (seq 1, with n2, seq 2), went down, p was copied to n3 (seq 7); n1 is back
    objects = [obj("p", ("n1", SHA, 1), ("n2", SHA, 2), ("n3", SHA, 7))]
    (task,) = plan_removals(objects, LIVE4)
    assert (task.object_id, task.node) == ("p", "n3")
    assert "surplus" in task.why


def test_every_copy_past_the_two_oldest_goes():
    objects = [obj("p", ("n4", SHA, 9), ("n1", SHA, 3), ("n2", SHA, 1), ("n3", SHA, 7))]
    assert [t.node for t in plan_removals(objects, LIVE4)] == ["n3", "n4"]


def test_copies_on_a_down_node_are_never_removed_nor_counted():
    nodes = nodes_of(Node("n1", state=NodeState.DOWN), Node("n2"), Node("n3"), Node("n4"))
    objects = [obj("p", ("n1", SHA, 1), ("n2", SHA, 2), ("n3", SHA, 7), ("n4", OLD, 8))]
    assert [t.node for t in plan_removals(objects, nodes)] == ["n4"]  # only the stale one: n1 does not count


def test_copies_on_a_joining_node_are_never_removed():
    nodes = nodes_of(Node("n1", state=NodeState.JOINING), Node("n2"), Node("n3"))
    objects = [obj("p", ("n1", OLD, 1), ("n2", SHA, 2), ("n3", SHA, 7))]
    assert plan_removals(objects, nodes) == []


def test_a_stale_copy_is_removed_once_two_good_copies_exist():
    objects = [obj("p", ("n1", OLD, 1), ("n2", SHA, 2), ("n3", SHA, 7))]
    (task,) = plan_removals(objects, LIVE4)
    assert (task.node, "stale" in task.why) == ("n1", True)


def test_a_stale_copy_stays_while_there_are_fewer_than_two_good_copies():
    assert plan_removals([obj("p", ("n1", OLD, 1), ("n2", SHA, 2))], LIVE4) == []


def test_an_object_with_exactly_two_good_copies_loses_none():
    assert plan_removals([obj("p", ("n1", SHA, 1), ("n2", SHA, 2))], LIVE4) == []


def test_removals_are_sorted_by_object_then_node():
    objects = [
        obj("q", ("n1", SHA, 1), ("n2", SHA, 2), ("n4", SHA, 3), ("n3", SHA, 4)),
        obj("p", ("n1", SHA, 1), ("n2", SHA, 2), ("n3", OLD, 3)),
    ]
    assert [(t.object_id, t.node) for t in plan_removals(objects, LIVE4)] == [("p", "n3"), ("q", "n3"), ("q", "n4")]


# -- properties: a simulated table --

NODE_NAMES = ["n1", "n2", "n3", "n4", "n5"]
STATES = st.sampled_from([NodeState.LIVE, NodeState.LIVE, NodeState.DOWN, NodeState.JOINING])


@st.composite
def stores(draw):
    """Nodes in random states and objects with random copies (good, stale, on any node)."""
    nodes = {
        name: Node(name, state=draw(STATES), used_bytes=draw(st.integers(0, 100)), disk_free=None)
        for name in NODE_NAMES
    }
    objects = []
    seq = 0
    for i in range(draw(st.integers(0, 12))):
        holders = draw(st.lists(st.sampled_from(NODE_NAMES), unique=True, max_size=5))
        replicas = []
        for node in holders:
            seq += 1
            replicas.append(Replica(node, draw(st.sampled_from([SHA, SHA, OLD])), draw(st.integers(0, 50))))
        objects.append(
            StoredObject(f"o{i}", draw(st.integers(1, 40)), SHA, replicas=tuple(replicas), spooled=draw(st.booleans()))
        )
    return nodes, objects


def apply_copy(objects: dict[str, StoredObject], task: CopyTask, seq: int) -> None:
    o = objects[task.object_id]
    kept = tuple(r for r in o.replicas if r.node != task.target)
    objects[o.id] = replace(o, replicas=(*kept, Replica(task.target, o.sha256, seq)))


def apply_removal(objects: dict[str, StoredObject], task: RemoveTask) -> None:
    o = objects[task.object_id]
    objects[o.id] = replace(o, replicas=tuple(r for r in o.replicas if r.node != task.node))


def has_source(o: StoredObject, live) -> bool:
    return bool(o.good_nodes(live)) or o.spooled


def settle(nodes, objects: dict[str, StoredObject], limit: int, seq: int) -> tuple[int, int]:
    """Apply copies and removals until nothing is planned; returns (rounds, next seq)."""
    for rounds in range(1, 200):
        copies = plan_copies(objects.values(), nodes, limit)
        for task in copies:
            seq += 1
            apply_copy(objects, task, seq)
        removals = plan_removals(objects.values(), nodes)
        for task in removals:
            apply_removal(objects, task)
        if not copies and not removals:
            return rounds, seq
    raise AssertionError("repair did not converge")


@settings(max_examples=100, deadline=None)
@given(store=stores(), limit=st.integers(1, 6))
def test_plan_copies_targets_a_live_node_without_a_good_copy_never_the_source(store, limit):
    nodes, objects = store
    live = live_names(nodes)
    by_id = {o.id: o for o in objects}
    tasks = plan_copies(objects, nodes, limit)
    assert len(tasks) <= limit
    assert len({t.object_id for t in tasks}) == len(tasks)  # one task per object
    for task in tasks:
        o = by_id[task.object_id]
        good = o.good_nodes(live)
        assert task.target in live
        assert task.target not in good
        assert task.target != task.source
        assert task.source == (good[0] if good else SPOOL)
        assert task.good_copies == len(good) < 2
    priorities = [t.good_copies for t in tasks]
    assert priorities == sorted(priorities, reverse=True)


@settings(max_examples=100, deadline=None)
@given(store=stores())
def test_plan_removals_never_leaves_fewer_than_two_good_copies_nor_touches_a_copy_off_a_live_node(store):
    nodes, objects = store
    live = live_names(nodes)
    by_id = {o.id: o for o in objects}
    tasks = plan_removals(objects, nodes)
    for task in tasks:
        assert task.node in live
        assert task.node in by_id[task.object_id].holders()
    after = {o.id: o for o in objects}
    for task in tasks:
        apply_removal(after, task)
    for o in objects:
        before = len(set(o.good_nodes(live)))
        assert len(set(after[o.id].good_nodes(live))) == min(before, 2)


@settings(max_examples=60, deadline=None)
@given(
    store=stores(),
    limit=st.integers(1, 8),
    changes=st.lists(st.tuples(st.sampled_from(NODE_NAMES), STATES), max_size=6),
)
def test_repair_converges_to_two_good_copies_on_distinct_live_nodes(store, limit, changes):
    nodes, initial = store
    objects = {o.id: o for o in initial}
    seq = 1_000
    # nodes come and go between rounds of repair
    for name, state in changes:
        nodes = {**nodes, name: replace(nodes[name], state=state)}
        for task in plan_copies(objects.values(), nodes, limit):
            seq += 1
            apply_copy(objects, task, seq)
        for task in plan_removals(objects.values(), nodes):
            apply_removal(objects, task)
    settle(nodes, objects, limit, seq)
    live = live_names(nodes)
    for o in objects.values():
        good = o.good_nodes(live)
        assert len(good) == len(set(good))
        if has_source(o, live):
            assert len(good) == min(2, len(live)), o
        if len(good) == 2:
            assert not [r for r in o.replicas if r.node in live and r.sha256 != o.sha256]  # no stale copy left


@settings(max_examples=60, deadline=None)
@given(store=stores())
def test_a_settled_store_plans_nothing_more_and_no_object_lost_its_source(store):
    nodes, initial = store
    live = live_names(nodes)
    objects = {o.id: o for o in initial}
    settle(nodes, objects, limit=4, seq=1_000)
    assert plan_copies(objects.values(), nodes, limit=4) == []
    assert plan_removals(objects.values(), nodes) == []
    for o in initial:
        assert len(objects[o.id].good_nodes(live)) >= min(len(o.good_nodes(live)), 2)
        # copies off live nodes are as they were
        assert {r for r in objects[o.id].replicas if r.node not in live} == {
            r for r in o.replicas if r.node not in live
        }
