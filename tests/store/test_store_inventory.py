"""``apply_inventory`` on a real object table: what a node's complete inventory may and may not drop."""

from __future__ import annotations

import hashlib

import pytest

from store.manager.inventory import apply_inventory
from store.model import InventoryItem
from store.table import ObjectTable

DATA = b"the bytes of a photo"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def table(tmp_path):
    table = ObjectTable(tmp_path / "objects.sqlite")
    yield table
    table.close()


def test_a_complete_inventory_drops_the_record_of_a_copy_it_does_not_name(table):
    table.record_put("a.jpg", len(DATA), SHA)
    table.add_replica("a.jpg", "n1", SHA)

    outcome = apply_inventory(table, "n1", [], complete=True, max_size=1024, taken_after=table.last_seq())

    assert outcome.dropped == 1 and table.get("a.jpg").holders() == frozenset()


def test_a_complete_inventory_taken_before_a_copy_arrived_keeps_that_copy(table):
    """The registry pulls a returning node's inventory and the node pushes one: whichever is applied second
    was taken before the copies placed on the node once the first made it live, and must not drop them."""
    table.record_put("a.jpg", len(DATA), SHA)
    table.record_put("b.jpg", len(DATA), SHA)
    table.add_replica("a.jpg", "n1", SHA)
    taken_after = table.last_seq()
    inventory = [InventoryItem("a.jpg", len(DATA), SHA)]  # taken now: b.jpg is not on n1 yet
    table.add_replica("b.jpg", "n1", SHA)  # placed on n1 once it was live

    outcome = apply_inventory(table, "n1", inventory, complete=True, max_size=1024, taken_after=taken_after)

    assert outcome.dropped == 0
    assert table.get("a.jpg").holders() == {"n1"} and table.get("b.jpg").holders() == {"n1"}


def test_a_partial_inventory_drops_nothing_it_does_not_name(table):
    table.record_put("a.jpg", len(DATA), SHA)
    table.add_replica("a.jpg", "n1", SHA)

    outcome = apply_inventory(table, "n1", [], complete=False, max_size=1024)

    assert outcome.dropped == 0 and table.get("a.jpg").holders() == {"n1"}
