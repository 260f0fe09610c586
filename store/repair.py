"""Which copies to make or remove when nodes leave or return (pure).

The manager's repairer hands in the table's objects and the nodes as they are now,
applies the tasks (a node copies to another, or deletes its copy), records the
outcome in the table, and asks again.  Planning again from the table after every
outcome is what makes the repair converge: each call only looks at what is true now.

A copy is *good* when its sha256 is the object's current one and its node is live;
copies on nodes that are not live (down, or joining and not reconciled yet) are never
counted, never used as a source, never removed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from store import placement
from store.model import SPOOL, Node, StoredObject, live_names

COPIES = 2  # every object on two nodes


@dataclass(frozen=True)
class CopyTask:
    """Make one more good copy of an object: ``source`` sends it to ``target``."""

    object_id: str
    version: int
    sha256: str
    size: int
    source: str  # a node name holding a good copy, or model.SPOOL
    target: str  # the node to copy to
    good_copies: int  # good copies on live nodes before this task (0 or 1): the priority


@dataclass(frozen=True)
class RemoveTask:
    """Remove one copy that is surplus or stale from ``node``."""

    object_id: str
    node: str
    why: str


def _good(obj: StoredObject, live: Collection[str]) -> tuple[str, ...]:
    """The nodes with a good copy, oldest copy first (``StoredObject.good_nodes``), each once."""
    return tuple(dict.fromkeys(obj.good_nodes(live)))


def _stale(obj: StoredObject, live: Collection[str], good: Collection[str]) -> list[str]:
    """Live nodes whose recorded copy is not the current version (corrupt or older)."""
    return sorted({r.node for r in obj.replicas if r.sha256 != obj.sha256 and r.node in live} - set(good))


def plan_copies(
    objects: Iterable[StoredObject],
    nodes: Mapping[str, Node],
    limit: int,
    busy: Collection[str] = frozenset(),
    failed: Mapping[str, Collection[str]] | None = None,
) -> list[CopyTask]:
    """At most ``limit`` copies to make, those of objects left with one good copy first.

    An object with fewer than two good copies that is not ``busy`` (a copy of it in
    flight) gets at most one task per call: the source is its oldest good copy, else the
    spool when it still holds the object, else nothing (it waits for a node to return).
    The target is elected among live nodes that hold no good copy and have not already
    failed for this object (``failed[object_id]``), preferring one with a stale copy.
    Bytes planned in this call count against their target, so one call spreads its
    copies instead of sending them all to the emptiest node.
    """
    failed = failed or {}
    live = live_names(nodes)
    needy: list[tuple[StoredObject, tuple[str, ...]]] = []
    for obj in objects:
        if obj.id in busy:
            continue
        good = _good(obj, live)
        if len(good) < COPIES and (good or obj.spooled):
            needy.append((obj, good))
    needy.sort(key=lambda pair: (-len(pair[1]), pair[0].id))

    planned: dict[str, int] = {}  # bytes planned to each target in this call
    tasks: list[CopyTask] = []
    for obj, good in needy:
        if len(tasks) >= max(limit, 0):
            break
        candidates = [_charged(n, planned.get(n.name, 0)) for n in nodes.values()]
        target = placement.elect(
            candidates,
            obj.size,
            exclude=set(good) | set(failed.get(obj.id, ())),
            prefer=set(_stale(obj, live, good)),
        )
        if target is None:
            continue
        planned[target.name] = planned.get(target.name, 0) + obj.size
        tasks.append(
            CopyTask(
                object_id=obj.id,
                version=obj.version,
                sha256=obj.sha256,
                size=obj.size,
                source=good[0] if good else SPOOL,
                target=target.name,
                good_copies=len(good),
            )
        )
    return tasks


def _charged(node: Node, extra: int) -> Node:
    """The node as it will be once ``extra`` planned bytes have landed on it."""
    if not extra:
        return node
    free = None if node.disk_free is None else node.disk_free - extra
    return replace(node, used_bytes=node.used_bytes + extra, disk_free=free)


def plan_removals(objects: Iterable[StoredObject], nodes: Mapping[str, Node]) -> list[RemoveTask]:
    """The copies on live nodes to remove: surplus good ones, and stale ones once it is safe.

    With more than two good copies the newest go and the two oldest stay: a node that
    returns with its disk keeps its original copy, the copy made on its replacement goes,
    and the store is back to two copies and the balance it had.  A stale copy (its sha256
    is not the object's) goes only when two good copies exist elsewhere.  Never a removal
    that leaves fewer than two good copies; copies on nodes that are not live are left
    alone (they are reconciled when their node returns).  Sorted by object id, then node.
    """
    live = live_names(nodes)
    tasks: list[RemoveTask] = []
    for obj in objects:
        good = _good(obj, live)
        if len(good) < COPIES:
            continue
        keep = good[:COPIES]
        for node in good[COPIES:]:
            tasks.append(RemoveTask(obj.id, node, f"surplus copy: {len(good)} good copies, kept {', '.join(keep)}"))
        for node in _stale(obj, live, good):
            tasks.append(
                RemoveTask(obj.id, node, f"stale copy: its sha256 is not the object's, good on {', '.join(keep)}")
            )
    tasks.sort(key=lambda t: (t.object_id, t.node))
    return tasks
