"""Which node takes a copy: the live node with the fewest used bytes that has room.

Pure: the manager's placers and its repairer hand in the nodes as the table and the
group see them and apply the answer.  Ties go to the smallest name so the same table
always gives the same node (tests and replays can tell what will happen).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from store.model import Node


def elect(nodes: Iterable[Node], size: int, exclude: Collection[str] = (), prefer: Collection[str] = ()) -> Node | None:
    """The node to take a copy of ``size`` bytes, or None when no node can.

    Only a LIVE node that has room for ``size`` and is not in ``exclude`` qualifies
    (a joining node has not been reconciled yet, a down one does not answer).  A node
    in ``prefer`` wins over one that is not: the repairer prefers a node holding a
    stale copy, which is overwritten in place instead of leaving a third copy to remove.
    Among equals the fewest ``used_bytes`` wins, then the smallest name.
    """
    candidates = [n for n in nodes if n.live and n.name not in exclude and n.has_room(size)]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (n.name not in prefer, n.used_bytes, n.name))


def elect_pair(nodes: Iterable[Node], size: int) -> tuple[Node | None, Node | None]:
    """The primary and the secondary of a new object: two distinct nodes, as far as there are.

    The secondary is elected as if the primary already held the object (its used
    bytes counted ``+size``), never the primary itself.  ``(None, None)`` when no node
    can take it, ``(primary, None)`` when only one can.
    """
    nodes = list(nodes)
    primary = elect(nodes, size)
    if primary is None:
        return None, None
    charged = replace(
        primary,
        used_bytes=primary.used_bytes + size,
        disk_free=None if primary.disk_free is None else primary.disk_free - size,
    )
    rest = [charged if n.name == primary.name else n for n in nodes]
    return primary, elect(rest, size, exclude={primary.name})
