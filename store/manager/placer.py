"""Placer: consumes the replication queue and puts each object on a primary, then a secondary.

For each message (one at a time per placer; a manager runs several): the
object must still be at the message's version and in the spool, else the
message is done (a newer put or a delete took over).  Then, until two live
nodes hold a good copy: elect a node (``placement.elect``: the live node with
the fewest used bytes that has room, never one that holds a copy already),
stream the spool file to it (the node verifies the sha256 on arrival), and
record the copy.  A node that fails is skipped for this object and reported to
the registry; the next is tried.  When two copies are recorded the spool file
goes (unless another spooled object shares its bytes), and only then is the
message acked: a manager killed half-way gets it again after its restart and
finishes from what the table already records.

Too few live nodes: the object stays in the spool with what copies it has,
the message is acked, and the repairer places it when nodes come
(``Stats`` counts it as spooled).  A message that is not a replication
message goes to the dead letters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pykka
import structlog

from actorkit.messaging import tell_call
from ports.broker import BrokerError, JobDelivered
from store import placement
from store.manager.metrics import StoreMetrics
from store.manager.node_clients import NodeClients
from store.manager.replicate import InvalidReplicate, Replicate
from store.manager.spool import Spool
from store.model import StoredObject
from store.node_client import NodeCallFailed
from store.table import ObjectTable

log = structlog.get_logger()


def release_spool(table: ObjectTable, spool: Spool, obj: StoredObject) -> None:
    """The spool copy of ``obj``'s version is no longer needed: two nodes hold it."""
    if table.set_spooled(obj.id, obj.version, False) and not table.spooled_with(obj.sha256):
        spool.remove(obj.sha256)


def sweep_spool(table: ObjectTable, spool: Spool) -> list[str]:
    """At the manager's start, before it takes puts: removes the spool files no spooled object has (a manager
    killed between marking an object placed and removing its file leaves one behind).  Returns their hashes."""
    orphans = [sha256 for sha256 in spool.hashes() if not table.spooled_with(sha256)]
    for sha256 in orphans:
        spool.remove(sha256)
    if orphans:
        log.info("store.spool_swept", files=len(orphans))
    return orphans


def deleted_meanwhile(table: ObjectTable, object_id: str) -> bool:
    """A copy was made, but recording it found no object: it was deleted while the copy travelled.  The
    caller deletes that copy on its node: the delete could not name it (the table did not record it yet),
    no table row ever will, and the tombstone would have it deleted only when that node restarts.  (A newer
    put of the id also fails the record: the placer then records its copy as a stale one, to be replaced; the
    repairer, which may race a placer of the new version to that node, leaves it to the node's next
    inventory.)"""
    return table.get(object_id) is None


class PlacementLocks:
    """One lock per object id being placed, shared by a manager's placers.  Two versions of one id (a put and
    its overwrite) are then never sent at once: without it the old version's copy could land on a node after
    the new one's, and the node held the old bytes while the table recorded the new (a read would find it;
    the node's scrubber, comparing with the node's own record, never would)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, int]] = {}  # id -> its lock, and how many placers want it

    @contextmanager
    def holding(self, object_id: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._held.get(object_id, (threading.Lock(), 0))
            self._held[object_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                users = self._held[object_id][1] - 1
                if users:
                    self._held[object_id] = (lock, users)
                else:
                    del self._held[object_id]


class Placer(pykka.ThreadingActor):
    def __init__(
        self,
        name: str,
        broker: pykka.ActorProxy,
        registry: pykka.ActorProxy,
        table: ObjectTable,
        spool: Spool,
        clients: NodeClients,
        metrics: StoreMetrics,
        repairer: pykka.ActorProxy | None = None,
        locks: PlacementLocks | None = None,
    ) -> None:
        """``locks`` is shared by every placer of the manager (without it, this placer's own)."""
        super().__init__()
        self.name, self.broker, self.registry = name, broker, registry
        self.table, self.spool, self.clients, self.metrics = table, spool, clients, metrics
        self.repairer = repairer
        self.locks = locks or PlacementLocks()

    def on_start(self) -> None:
        self.broker.consume(self.name, self.actor_ref).get()

    def on_job_delivered(self, delivery: JobDelivered) -> None:
        try:
            message = Replicate.decode(delivery.body)
        except InvalidReplicate as error:
            log.error("store.poison_replicate", error=str(error))
            self.metrics.placements.labels(result="poison").inc()
            self._settle(delivery, reject=True)
            return
        if self.repairer is not None:
            tell_call(self.repairer.actor_ref, "placing", message.object_id)
        try:
            with self.locks.holding(message.object_id):
                self.place(message)
        finally:
            if self.repairer is not None:
                tell_call(self.repairer.actor_ref, "placed", message.object_id)
        self._settle(delivery)

    def place(self, message: Replicate) -> None:
        tried: set[str] = set()
        while True:
            obj = self.table.get(message.object_id)
            if obj is None or obj.version != message.version or not obj.spooled:
                log.info("store.placement_superseded", object_id=message.object_id, version=message.version)
                self.metrics.placements.labels(result="superseded").inc()
                self._release_bytes(message.sha256)
                return
            nodes = self.registry.nodes().get()
            live = frozenset(n for n, node in nodes.items() if node.live)
            good = obj.good_nodes(live)
            if len(good) >= 2:
                release_spool(self.table, self.spool, obj)
                log.info("store.placed", object_id=obj.id, version=obj.version, nodes=list(good[:2]))
                self.metrics.placements.labels(result="placed").inc()
                return
            stale = {r.node for r in obj.replicas if r.sha256 != obj.sha256}
            target = placement.elect(nodes.values(), obj.size, exclude=set(good) | tried, prefer=stale)
            if target is None:
                log.warning("store.waiting_for_nodes", object_id=obj.id, good_copies=len(good), live_nodes=len(live))
                self.metrics.placements.labels(result="waiting").inc()
                return
            if not self.spool.has(obj.sha256):
                log.error("store.spool_copy_missing", object_id=obj.id, sha256=obj.sha256)
                self.metrics.placements.labels(result="spool_missing").inc()
                return  # the repairer copies from a node, if one holds it
            tried.add(target.name)
            if self._send(obj, target.name, target.address, "secondary" if good else "primary"):
                if not self.table.add_replica(obj.id, target.name, obj.sha256, obj.version):
                    if deleted_meanwhile(self.table, obj.id):
                        self._delete_orphan(obj.id, target.name, target.address)
                    else:  # overwritten meanwhile: the node now holds these old bytes, a stale copy to replace
                        self.table.add_replica(obj.id, target.name, obj.sha256)

    def _send(self, obj: StoredObject, node: str, address: str, role: str) -> bool:
        try:
            self.clients(address).put_file(obj.id, self.spool.path(obj.sha256), obj.size, obj.sha256)
        except NodeCallFailed as error:
            log.warning("store.copy_refused", object_id=obj.id, node=node, role=role, error=str(error))
            self.metrics.copies.labels(reason="placement", result="failed").inc()
            if error.unreachable:
                self.registry.call_failed(node, str(error))
            return False
        except OSError as error:  # the spool file: a delete or an overwrite released it since the check
            log.warning("store.spool_read_failed", object_id=obj.id, node=node, error=str(error))
            return False  # raised, it would end the placer and, rest_for_one, restart the server after it
        self.registry.call_succeeded(node)
        self.metrics.copies.labels(reason="placement", result="ok").inc()
        log.info("store.copy_made", object_id=obj.id, node=node, role=role, size=obj.size)
        return True

    def _release_bytes(self, sha256: str) -> None:
        """A superseded version's spool file goes unless a spooled object still has those bytes: neither the
        overwrite's placement nor a delete releases it (they release the bytes of the current version), and
        it stayed in the spool for good."""
        if self.spool.has(sha256) and not self.table.spooled_with(sha256):
            self.spool.remove(sha256)

    def _delete_orphan(self, object_id: str, node: str, address: str) -> None:
        try:
            self.clients(address).delete(object_id)
            log.info("store.orphan_copy_deleted", object_id=object_id, node=node)
        except NodeCallFailed as error:  # the tombstone has it deleted when the node reports again
            log.warning("store.delete_copy_failed", object_id=object_id, node=node, error=str(error))

    def _settle(self, delivery: JobDelivered, reject: bool = False) -> None:
        try:
            if reject:
                self.broker.reject(self.name, delivery.delivery_tag).get()
            else:
                self.broker.ack(self.name, delivery.delivery_tag).get()
        except BrokerError as error:  # the broker hands it out again; placing is idempotent
            log.warning("store.settle_failed", consumer=self.name, error=str(error))
