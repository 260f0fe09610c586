"""The object table's records as the pure decisions see them.

The table (``store/table.py``) hands these out; ``placement``, ``repair`` and
``reconcile`` take them and return what to do, never touching a disk or a
socket.  A copy is *good* when its recorded sha256 is the object's current
one and its node is live.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

SPOOL = ":spool"  # the source of a copy that comes from the manager's spool, not a node


class NodeState(StrEnum):
    JOINING = "joining"  # in the group, inventory not reconciled yet: takes no new copies
    LIVE = "live"  # in the group and reconciled: holds, serves and takes copies
    DOWN = "down"  # out of the group, or its calls kept failing: its copies do not count


@dataclass(frozen=True)
class Node:
    name: str
    address: str = ""
    state: NodeState = NodeState.LIVE
    used_bytes: int = 0  # bytes of the copies the table places there
    disk_free: int | None = None  # free bytes as the node last reported; None = unknown (no limit)

    @property
    def live(self) -> bool:
        return self.state is NodeState.LIVE

    def has_room(self, size: int) -> bool:
        return self.disk_free is None or self.disk_free >= size


@dataclass(frozen=True)
class Replica:
    """One node's copy as the table records it."""

    node: str
    sha256: str  # what the copy hashed to when it was made or last reported
    seq: int = 0  # the order copies were made in, table-wide: smaller is older (the primary is the oldest)


@dataclass(frozen=True)
class StoredObject:
    id: str
    size: int
    sha256: str
    version: int = 1  # bumped by every put of the same id
    replicas: tuple[Replica, ...] = ()  # oldest first
    spooled: bool = False  # the manager's spool still holds this version

    def good_nodes(self, live: Collection[str]) -> tuple[str, ...]:
        """Nodes with a good copy of the current version, oldest copy first."""
        ordered = sorted(self.replicas, key=lambda r: r.seq)
        return tuple(r.node for r in ordered if r.sha256 == self.sha256 and r.node in live)

    def holders(self) -> frozenset[str]:
        """Every node the table records a copy on, good, stale or down."""
        return frozenset(r.node for r in self.replicas)


def live_names(nodes: Mapping[str, Node] | Collection[Node]) -> frozenset[str]:
    values = nodes.values() if isinstance(nodes, Mapping) else nodes
    return frozenset(n.name for n in values if n.live)


@dataclass(frozen=True)
class InventoryItem:
    """One entry of a node's inventory, as received: nothing in it is trusted yet."""

    id: str
    size: int
    sha256: str
