"""Applies a node's inventory to the table: ``reconcile`` decides, this carries it out.

Used for the inventory a node pushes when it starts (``ReportInventory``), the
one the manager pulls when a known node rejoins the group, and the scrubber's
partial reports.  What the node itself must delete comes back in
``InventoryOutcome.delete``: the caller hands it to the node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from store.ids import InvalidObjectId, check_object_id
from store.model import InventoryItem, StoredObject
from store.reconcile import Adopt, DeleteCopy, DropCopy, RecordCopy, Reject, reconcile
from store.table import ObjectTable

log = structlog.get_logger()


@dataclass(frozen=True)
class InventoryOutcome:
    accepted: int
    rejected: tuple[str, ...]  # "id: why"
    delete: tuple[str, ...]  # ids the node must delete
    adopted: int = 0
    dropped: int = 0


def apply_inventory(
    table: ObjectTable,
    node: str,
    items: Iterable[InventoryItem],
    complete: bool,
    max_size: int,
    taken_after: int | None = None,
) -> InventoryOutcome:
    """Applies ``node``'s inventory.  ``taken_after``: a ``table.last_seq()`` read before the node took the
    inventory; a copy recorded after it (placed or repaired onto the node since) is never dropped for being
    absent from a complete inventory, which was taken before the copy arrived.  Without it, a node's two
    complete inventories of one return (the one it pushes, the one the registry pulls) raced: the first
    made the node live, copies were placed on it, and the second, older one dropped their records, leaving
    objects under-replicated and their copies orphans on the node."""
    items = list(items)
    ids = {item.id for item in items if isinstance(item.id, str)}
    known = {obj.id: obj for obj in table.objects_on(node)}
    for object_id in ids - set(known):
        obj = table.get(object_id) if _plausible(object_id) else None
        if obj is not None:
            known[object_id] = obj
    tombstones = table.tombstoned(i for i in ids if _plausible(i) and i not in known)
    accepted, adopted, dropped = 0, 0, 0
    rejected: list[str] = []
    delete: list[str] = []
    for action in reconcile(node, items, known, tombstones, complete, max_size):
        if isinstance(action, Reject):
            rejected.append(f"{action.object_id}: {action.why}")
            continue
        if isinstance(action, Adopt):
            adopted += table.adopt(action.object_id, action.size, action.sha256, node) is not None
        elif isinstance(action, RecordCopy):
            table.add_replica(action.object_id, node, action.sha256)
        elif isinstance(action, DropCopy):
            if taken_after is not None and _recorded_since(known.get(action.object_id), node, taken_after):
                continue
            dropped += table.drop_replica(action.object_id, node)
        elif isinstance(action, DeleteCopy):
            table.drop_replica(action.object_id, node)
            delete.append(action.object_id)
            log.info("store.copy_condemned", node=node, object_id=action.object_id, why=action.why)
        accepted += 1
    outcome = InventoryOutcome(accepted, tuple(rejected), tuple(delete), adopted, dropped)
    log.info(
        "store.inventory_applied",
        node=node,
        complete=complete,
        entries=len(items),
        accepted=accepted,
        rejected=len(rejected),
        delete=len(delete),
        adopted=adopted,
        dropped=dropped,
    )
    return outcome


def _recorded_since(obj: StoredObject | None, node: str, seq: int) -> bool:
    return obj is not None and any(r.node == node and r.seq > seq for r in obj.replicas)


def _plausible(object_id: str) -> bool:
    try:
        check_object_id(object_id)
    except InvalidObjectId:
        return False
    return True
