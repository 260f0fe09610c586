"""Reconciling an inventory: good copies recorded, bad ones deleted, lost objects adopted, bad entries rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.model import InventoryItem, Replica, StoredObject
from store.reconcile import Adopt, DeleteCopy, DropCopy, RecordCopy, Reject, reconcile

SHA = "a" * 64
OLD = "b" * 64
MAX = 1_000


def table_of(*objects: StoredObject) -> dict[str, StoredObject]:
    return {o.id: o for o in objects}


def stored(object_id: str, size: int = 10, sha: str = SHA, on: tuple[str, ...] = ()) -> StoredObject:
    return StoredObject(object_id, size, sha, replicas=tuple(Replica(n, sha, i) for i, n in enumerate(on)))


def run(items, table=None, tombstones=(), complete=False, node="n1"):
    return reconcile(node, items, table or {}, tombstones, complete, MAX)


# -- one entry --


def test_a_copy_matching_the_table_is_recorded():
    table = table_of(stored("photos/a.jpg", on=("n2",)))
    assert run([InventoryItem("photos/a.jpg", 10, SHA)], table) == [RecordCopy("photos/a.jpg", SHA)]


def test_a_copy_the_table_already_records_is_recorded_again():
    table = table_of(stored("a", on=("n1", "n2")))
    assert run([InventoryItem("a", 10, SHA)], table, complete=True) == [RecordCopy("a", SHA)]


def test_an_object_the_table_lost_is_adopted_with_this_nodes_copy():
    assert run([InventoryItem("a", 10, SHA)]) == [Adopt("a", 10, SHA)]


def test_an_object_deleted_while_the_node_was_away_is_deleted_from_the_node():
    (action,) = run([InventoryItem("a", 10, SHA)], tombstones={"a"})
    assert isinstance(action, DeleteCopy) and action.object_id == "a"


def test_an_object_put_again_after_its_deletion_follows_the_table_not_the_tombstone():
    table = table_of(stored("a"))
    assert run([InventoryItem("a", 10, SHA)], table, tombstones={"a"}) == [RecordCopy("a", SHA)]


def test_a_copy_with_another_sha256_is_deleted():
    table = table_of(stored("a", on=("n1", "n2")))
    (action,) = run([InventoryItem("a", 10, OLD)], table)
    assert isinstance(action, DeleteCopy) and action.object_id == "a"
    assert "sha256" in action.why


def test_an_older_version_of_another_size_is_deleted_not_rejected():
    table = table_of(stored("a", size=10))
    (action,) = run([InventoryItem("a", 99, OLD)], table)
    assert isinstance(action, DeleteCopy)


def test_a_copy_with_the_objects_sha256_but_another_size_is_rejected():
    table = table_of(stored("a", size=10))
    assert run([InventoryItem("a", 11, SHA)], table) == [Reject("a", "claims size 11, the object has 10")]


# -- bad entries --


@pytest.mark.parametrize(
    "bad_id",
    ["", "../etc/passwd", "a//b", ".hidden", "a/.b", "x" * 201, "sp ace", "caf\u00e9", "a\nb", 17, None],
    ids=[
        "empty",
        "dotdot",
        "empty-part",
        "dot",
        "dot-part",
        "too-long",
        "space",
        "non-ascii",
        "newline",
        "int",
        "none",
    ],
)
def test_an_entry_with_a_malformed_id_is_rejected_with_printable_text_of_what_was_sent(bad_id):
    (action,) = run([InventoryItem(bad_id, 10, SHA)])
    assert isinstance(action, Reject)
    assert action.object_id.isascii() and action.object_id.isprintable()
    assert len(action.object_id) <= 130
    assert "object id" in action.why


@pytest.mark.parametrize("size", [0, -1, MAX + 1, True, 1.5, "10", None])
def test_an_entry_with_a_size_out_of_bounds_is_rejected(size):
    (action,) = run([InventoryItem("a", size, SHA)], table_of(stored("a")))
    assert isinstance(action, Reject) and action.object_id == "a"
    assert "size" in action.why


def test_the_largest_allowed_size_is_accepted():
    assert run([InventoryItem("a", MAX, SHA)]) == [Adopt("a", MAX, SHA)]


@pytest.mark.parametrize("sha", ["", "A" * 64, "a" * 63, "a" * 65, "g" * 64, None, "a" * 10_000])
def test_an_entry_with_a_malformed_sha256_is_rejected(sha):
    (action,) = run([InventoryItem("a", 10, sha)])
    assert isinstance(action, Reject) and action.object_id == "a"
    assert "sha256" in action.why
    assert len(action.why) < 200


def test_an_id_named_twice_is_rejected_once_and_nothing_else_is_done_with_it():
    items = [InventoryItem("a", 10, SHA), InventoryItem("a", 10, OLD), InventoryItem("b", 10, SHA)]
    actions = run(items)
    assert actions == [Reject("a", "named 2 times in the inventory"), Adopt("b", 10, SHA)]


def test_a_bad_node_id_is_a_value_error():
    with pytest.raises(ValueError, match="node id"):
        run([], node="Bad Node")


# -- complete and partial inventories --


def test_a_complete_inventory_drops_the_records_of_copies_the_node_no_longer_has():
    table = table_of(stored("a", on=("n1", "n2")), stored("b", on=("n1",)), stored("c", on=("n2", "n3")))
    actions = run([InventoryItem("a", 10, SHA)], table, complete=True)
    assert actions == [RecordCopy("a", SHA), DropCopy("b", "not on the node any more")]


def test_a_partial_inventory_drops_nothing_it_does_not_name():
    table = table_of(stored("a", on=("n1", "n2")), stored("b", on=("n1",)))
    assert run([InventoryItem("a", 10, OLD)], table, complete=False) == [
        DeleteCopy("a", "its sha256 is not the object's: corrupt, or an older version")
    ]


def test_a_complete_inventory_drops_the_record_of_a_copy_whose_entry_was_rejected():
    table = table_of(stored("a", on=("n1", "n2")), stored("b", on=("n1",)))
    items = [InventoryItem("a", 11, SHA), InventoryItem("b", 10, SHA), InventoryItem("b", 10, SHA)]
    actions = run(items, table, complete=True)
    assert [type(a) for a in actions] == [Reject, DropCopy, Reject, DropCopy]
    assert [a.object_id for a in actions] == ["a", "a", "b", "b"]


def test_a_deleted_copy_is_not_dropped_a_second_time():
    table = table_of(stored("a", on=("n1", "n2")))
    actions = run([InventoryItem("a", 10, OLD)], table, complete=True)
    assert [type(a) for a in actions] == [DeleteCopy]


def test_an_empty_complete_inventory_drops_every_record_on_the_node():
    table = table_of(stored("a", on=("n1", "n2")), stored("b", on=("n2",)), stored("c", on=("n1",)))
    assert [(type(a), a.object_id) for a in run([], table, complete=True)] == [(DropCopy, "a"), (DropCopy, "c")]


def test_actions_are_sorted_by_object_id_whatever_the_order_of_the_inventory():
    table = table_of(stored("b"), stored("d", on=("n1",)))
    items = [InventoryItem("c", 10, SHA), InventoryItem("b", 10, OLD), InventoryItem("a", 10, SHA)]
    actions = run(items, table, complete=True)
    assert [a.object_id for a in actions] == ["a", "b", "c", "d"]
    assert run(list(reversed(items)), table, complete=True) == actions


# -- properties --

IDS = st.sampled_from(["a", "b", "c", "d/e", "f.jpg", "", ".x", "a//b"])
SHAS = st.sampled_from([SHA, OLD, "c" * 64, "bad", "A" * 64])
ITEMS = st.builds(InventoryItem, id=IDS, size=st.integers(-2, MAX + 2), sha256=SHAS)
NODES = st.sampled_from(["n1", "n2", "n3"])


@st.composite
def tables(draw):
    table = {}
    for object_id in draw(st.lists(st.sampled_from(["a", "b", "c", "d/e", "f.jpg"]), unique=True)):
        sha = draw(st.sampled_from([SHA, OLD]))
        holders = draw(st.lists(NODES, unique=True, max_size=3))
        table[object_id] = StoredObject(
            object_id, draw(st.integers(1, MAX)), sha, replicas=tuple(Replica(n, sha, i) for i, n in enumerate(holders))
        )
    return table


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(ITEMS, max_size=8),
    table=tables(),
    tombstones=st.sets(st.sampled_from(["a", "b", "c", "d/e", "f.jpg"])),
    complete=st.booleans(),
)
def test_reconcile_never_deletes_or_drops_a_copy_whose_sha_and_size_match_the_table(items, table, tombstones, complete):
    actions = reconcile("n1", items, table, tombstones, complete, MAX)
    matching = {i.id for i in items if i.id in table and (i.sha256, i.size) == (table[i.id].sha256, table[i.id].size)}
    named_once = {i.id for i in items if sum(j.id == i.id for j in items) == 1}
    for action in actions:
        if isinstance(action, DeleteCopy | DropCopy):
            assert action.object_id not in matching & named_once
        if isinstance(action, DeleteCopy):
            assert action.object_id not in table or action.object_id in {i.id for i in items}
        if isinstance(action, DropCopy):
            assert complete and "n1" in table[action.object_id].holders()
        if isinstance(action, Adopt | RecordCopy):
            assert (action.object_id, action.sha256) in {(i.id, i.sha256) for i in items}
        if isinstance(action, Adopt):
            assert action.object_id not in table and action.object_id not in tombstones
        if isinstance(action, Reject):
            assert action.object_id.isascii() and action.object_id.isprintable()
    assert actions == sorted(actions, key=lambda a: a.object_id)
    assert reconcile("n1", reversed(items), table, tombstones, complete, MAX) == actions
    # at most one action per id, except a rejected entry's record dropped from a complete inventory
    ids = [a.object_id for a in actions if not isinstance(a, DropCopy)]
    assert len(ids) <= len(items)
