"""What a node's inventory means for the table (pure).

A node reports what it holds (id, size, sha256) when it starts (a *complete*
inventory, everything it has) and when its scrubber finds a corrupt copy (a
*partial* one).  Nothing in a report is trusted: a bad entry is rejected and
reported back, never applied.  The manager applies the actions in order and then
lets the repairer restore two good copies; nothing here ever deletes a copy that
is good, so reconciling never lowers the number of good copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from store.ids import SHA256, InvalidObjectId, check_node_id, check_object_id
from store.model import InventoryItem, StoredObject

_SHOWN = 100  # characters of a rejected value worth echoing back


@dataclass(frozen=True)
class Adopt:
    """The table had lost this object: record it, with this node's copy."""

    object_id: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RecordCopy:
    """The node holds a good copy: record it (or keep the record)."""

    object_id: str
    sha256: str


@dataclass(frozen=True)
class DropCopy:
    """The table's record of a copy on this node goes (the node's disk is not touched)."""

    object_id: str
    why: str


@dataclass(frozen=True)
class DeleteCopy:
    """The node deletes its copy, and the table's record of it goes, if any."""

    object_id: str
    why: str


@dataclass(frozen=True)
class Reject:
    """A bad entry: ignored, reported back.  ``object_id`` is printable ASCII of what was sent."""

    object_id: str
    why: str


Action = Adopt | RecordCopy | DropCopy | DeleteCopy | Reject

_RANK = {Reject: 0, Adopt: 1, RecordCopy: 2, DeleteCopy: 3, DropCopy: 4}


def _shown(value: object) -> str:
    """``value`` as safe text for a report: a valid id as it is, anything else as bounded ASCII."""
    try:
        return check_object_id(value)
    except InvalidObjectId:
        pass
    if isinstance(value, str) and len(value) > _SHOWN:
        return ascii(value[:_SHOWN]) + f"... ({len(value)} characters)"
    text = ascii(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _fault(item: InventoryItem, max_size: int) -> str | None:
    """Why an entry is malformed on its own, or None."""
    try:
        check_object_id(item.id)
    except InvalidObjectId:
        return "malformed object id"
    size = item.size
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= max_size:
        return f"size {_shown(size)} is not 1..{max_size} bytes"
    if not isinstance(item.sha256, str) or not SHA256.fullmatch(item.sha256):
        return f"malformed sha256 {_shown(item.sha256)}"
    return None


def reconcile(
    node: str,
    items: Iterable[InventoryItem],
    table: Mapping[str, StoredObject],
    tombstones: Collection[str],
    complete: bool,
    max_size: int,
) -> list[Action]:
    """The actions that bring the table and ``node``'s disk in line with its inventory.

    Per entry: malformed (id, size, sha256) or named twice -> Reject; deleted while the
    node was away (tombstoned, not in the table) -> DeleteCopy; unknown -> Adopt; the
    object's sha256 and size -> RecordCopy; its sha256 with another size -> Reject; another
    sha256 (corrupt, or an older version) -> DeleteCopy.  A ``complete`` inventory also
    drops the table's record of every copy on this node it does not vouch for (not named,
    or named by a rejected entry); a partial one drops nothing else.  Sorted by object id.
    Raises ValueError (``InvalidNodeId``) for a malformed node id.
    """
    check_node_id(node)
    items = list(items)
    actions: list[Action] = []
    vouched: set[str] = set()  # ids whose entry was applied, so no DropCopy for them
    named = Counter(item.id for item in items if isinstance(item.id, str))
    repeated: set[str] = set()
    for item in items:
        fault = _fault(item, max_size)
        if fault is not None:
            actions.append(Reject(_shown(item.id), fault))
            continue
        object_id = item.id
        if named[object_id] > 1:
            if object_id not in repeated:
                repeated.add(object_id)
                actions.append(Reject(object_id, f"named {named[object_id]} times in the inventory"))
            continue
        vouched.add(object_id)
        obj = table.get(object_id)
        if obj is None:
            if object_id in tombstones:
                actions.append(DeleteCopy(object_id, "deleted while the node was away"))
            else:
                actions.append(Adopt(object_id, item.size, item.sha256))
        elif item.sha256 != obj.sha256:
            actions.append(DeleteCopy(object_id, "its sha256 is not the object's: corrupt, or an older version"))
        elif item.size != obj.size:
            vouched.discard(object_id)
            actions.append(Reject(object_id, f"claims size {item.size}, the object has {obj.size}"))
        else:
            actions.append(RecordCopy(object_id, obj.sha256))
    if complete:
        for obj in table.values():
            if node in obj.holders() and obj.id not in vouched:
                if obj.id in named:
                    actions.append(DropCopy(obj.id, "its inventory entry was rejected"))
                else:
                    actions.append(DropCopy(obj.id, "not on the node any more"))
    actions.sort(key=lambda a: (a.object_id, _RANK[type(a)], repr(a)))
    return actions
