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
from store.model import InventoryItem
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
    table: ObjectTable, node: str, items: Iterable[InventoryItem], complete: bool, max_size: int
) -> InventoryOutcome:
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


def _plausible(object_id: str) -> bool:
    try:
        check_object_id(object_id)
    except InvalidObjectId:
        return False
    return True
