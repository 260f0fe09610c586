"""The StoreManager gRPC service: where clients put, get and delete objects, and nodes report.

Each call runs in a gRPC thread and reads the table directly (SQLite in WAL
mode serves many readers at once); what needs a single owner (which nodes are
live, what the repairer is doing) is asked of, or told to, its actor.

* Put: the stream is written to the spool and fsynced (checked against the
  announced size, and the sha256 if the client sent one), the table records the
  new version, a replication message is queued durably, and only then does the
  client get its answer.  If the queue cannot take the message the object is
  still safe in the spool and the repairer places it.
* Get: from the oldest good copy (the primary), then the next, then the spool,
  each verified against the table's sha256 in a temporary file (or the spool's
  own) and then sent a block at a time: the manager never holds an object whole.
  A copy that fails the check, or that the node no longer has, is dropped from
  the table and deleted on its node, and the repairer makes a new one.
* Delete: the table forgets the object and keeps a tombstone (so a node that
  returns with a copy is told to delete it), then every copy goes.
* ReportInventory: a node's hello and what it holds; the answer names what the
  node must delete.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import grpc
import pykka
import structlog

from protos import store_pb2, store_pb2_grpc
from store.ids import InvalidDigest, InvalidNodeId, InvalidObjectId, check_node_id, check_object_id, check_sha256
from store.manager.inventory import apply_inventory
from store.manager.metrics import StoreMetrics
from store.manager.node_clients import NodeClients
from store.manager.replicate import Replicate
from store.manager.spool import Spool
from store.model import InventoryItem, StoredObject
from store.node_client import NodeCallFailed
from store.streams import BLOCK, Header, StreamError, file_blocks, hash_file, split
from store.table import ObjectTable

log = structlog.get_logger()

DEFAULT_MAX_OBJECT = 64 * 1024 * 1024
ASK_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 30.0


class StoreManagerService(store_pb2_grpc.StoreManagerServicer):
    def __init__(
        self,
        table: ObjectTable,
        spool: Spool,
        broker: pykka.ActorProxy,
        registry: pykka.ActorProxy,
        repairer: pykka.ActorProxy,
        clients: NodeClients,
        metrics: StoreMetrics,
        max_size: int = DEFAULT_MAX_OBJECT,
    ) -> None:
        self.table, self.spool, self.broker, self.registry = table, spool, broker, registry
        self.repairer, self.clients, self.metrics, self.max_size = repairer, clients, metrics, max_size

    # --- objects -----------------------------------------------------------------------

    def Put(self, request_iterator, context):
        try:
            header, blocks = split(request_iterator)
        except StreamError as error:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error), "malformed")
        self._check_header(header, context)
        try:
            sha256 = self.spool.receive(header, blocks)
        except StreamError as error:
            self._abort(context, grpc.StatusCode.DATA_LOSS, str(error), "corrupt")
        obj = self.table.record_put(header.id, header.size, sha256)
        try:
            self.broker.publish(Replicate(obj.id, obj.version, sha256).encode()).get(timeout=PUBLISH_TIMEOUT)
            result = "ok"
        except Exception as error:  # noqa: BLE001 - spooled and recorded: the repairer places it
            log.warning("store.replicate_not_queued", object_id=obj.id, error=str(error))
            self.repairer.nodes_changed()
            result = "ok_unqueued"
        self.metrics.puts.labels(result=result).inc()
        log.info("store.put", object_id=obj.id, size=obj.size, version=obj.version, sha256=sha256)
        return store_pb2.PutReply(id=obj.id, size=obj.size, sha256=sha256, version=obj.version)

    def Get(self, request, context) -> Iterator[store_pb2.GetReply]:
        obj = self._object(request.id, context)
        nodes = self.registry.nodes().get(timeout=ASK_TIMEOUT)
        live = frozenset(name for name, node in nodes.items() if node.live)
        for rank, name in enumerate(obj.good_nodes(live)):
            # The copy goes to an unnamed temporary file, verified, then to the client a block at a time:
            # the manager never holds an object whole, however many gets run at once.
            with tempfile.TemporaryFile(dir=self.spool.root) as copy:  # on the manager's disk, with no name
                try:
                    self.clients(nodes[name].address).get_into(obj.id, copy, expect_sha256=obj.sha256, size=obj.size)
                except NodeCallFailed as error:
                    if error.unreachable:
                        self.registry.call_failed(name, str(error))
                    elif error.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DATA_LOSS):
                        self._heal(obj, name, nodes[name].address, str(error))
                    else:
                        log.warning("store.get_failed", object_id=obj.id, node=name, error=str(error))
                    continue
                except StreamError as error:
                    self._heal(obj, name, nodes[name].address, str(error))
                    continue
                self.metrics.gets.labels(source="primary" if rank == 0 else "secondary").inc()
                copy.seek(0)
                yield from self._framed(obj, file_blocks(copy))
                return
        spooled = self._open_spooled(obj)
        if spooled is not None:
            with spooled:
                self.metrics.gets.labels(source="spool").inc()
                yield from self._framed(obj, file_blocks(spooled))
                return
        self.metrics.gets.labels(source="none").inc()
        context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"no good copy of {obj.id} can be read now (recorded on {sorted(obj.holders()) or 'no node'}, "
            f"live nodes {sorted(live) or 'none'}): try again when its nodes are back",
        )

    def Delete(self, request, context):
        self._check_id(request.id, context)
        obj = self.table.delete(request.id)
        if obj is None:
            return store_pb2.DeleteReply(existed=False)
        nodes = self.registry.nodes().get(timeout=ASK_TIMEOUT)
        for name in sorted(obj.holders()):
            node = nodes.get(name)
            if node is None or not node.address:
                continue
            try:
                self.clients(node.address).delete(obj.id)
            except NodeCallFailed as error:  # the tombstone has it deleted when the node reports again
                log.warning("store.delete_copy_failed", object_id=obj.id, node=name, error=str(error))
        if not self.table.spooled_with(obj.sha256):
            self.spool.remove(obj.sha256)
        self.metrics.deletes.inc()
        log.info("store.deleted", object_id=obj.id, copies=len(obj.replicas))
        return store_pb2.DeleteReply(existed=True)

    def Stat(self, request, context):
        obj = self._object(request.id, context)
        live = self.registry.live().get(timeout=ASK_TIMEOUT)
        return store_pb2.ObjectStat(
            id=obj.id,
            size=obj.size,
            sha256=obj.sha256,
            version=obj.version,
            nodes=list(obj.good_nodes(live)),
            spooled=obj.spooled,
        )

    def List(self, request, context):
        return store_pb2.ListReply(ids=self.table.list_ids(request.prefix))

    def Stats(self, request, context):
        live = self.registry.live().get(timeout=ASK_TIMEOUT)
        stats = self.table.stats(live)
        rows = self.table.node_stats()
        note = ""
        if len(live) < 2:
            note = f"fewer than two live nodes ({len(live)}): puts wait in the spool until nodes come"
        elif stats.under_replicated:
            note = f"{stats.under_replicated} objects have fewer than two good copies: the repairer is on it"
        return store_pb2.StoreStats(
            objects=stats.objects,
            bytes=stats.bytes,
            under_replicated=stats.under_replicated,
            spooled=stats.spooled,
            live_nodes=len(live),
            nodes=[
                store_pb2.NodeStats(
                    node=row.name,
                    address=row.address,
                    state=row.state.value if hasattr(row.state, "value") else str(row.state),
                    objects=row.objects,
                    bytes=row.bytes,
                    disk_used=row.disk_used or 0,
                    disk_total=row.disk_total or 0,
                )
                for row in rows
            ],
            note=note,
        )

    # --- nodes -------------------------------------------------------------------------

    def ReportInventory(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "hello":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an inventory report starts with the node's hello")
        hello = first.hello
        try:
            node = check_node_id(hello.node)
        except InvalidNodeId as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        # A complete inventory vouches for what the node held when it took it.  Once the node is live (the
        # registry pulled and applied its inventory first) copies may have been placed on it since, so a
        # pushed inventory then only adds and condemns, it drops nothing (see ``apply_inventory``).
        taken_after = self.table.last_seq()
        complete = not hello.scrub and node not in self.registry.live().get(timeout=ASK_TIMEOUT)
        if not hello.scrub:
            if not hello.address:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a node's hello names the address it serves on")
            self.registry.hello(node, hello.address, hello.disk_used, hello.disk_total).get(timeout=ASK_TIMEOUT)
        items = []
        for part in request_iterator:
            if part.WhichOneof("part") != "entry":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "one hello per inventory report, first")
            items.append(InventoryItem(part.entry.id, part.entry.size, part.entry.sha256))
        outcome = apply_inventory(
            self.table, node, items, complete=complete, max_size=self.max_size, taken_after=taken_after
        )
        if hello.scrub:
            self.metrics.corrupt.inc(len(outcome.delete))
        else:
            self.registry.reconciled(node)
        self.repairer.nodes_changed()
        return store_pb2.InventoryReply(
            accepted=outcome.accepted, rejected=list(outcome.rejected), delete=list(outcome.delete)
        )

    # --- inside ------------------------------------------------------------------------

    def _check_header(self, header: Header, context) -> None:
        self._check_id(header.id, context)
        if header.size == 0:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{header.id}: a zero-byte object", "empty")
        if header.size > self.max_size:
            self._abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{header.id}: {header.size} bytes is over the store's limit of {self.max_size}",
                "too_large",
            )
        if header.sha256:
            try:
                check_sha256(header.sha256)
            except InvalidDigest as error:
                self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error), "malformed")

    def _check_id(self, object_id: str, context) -> None:
        try:
            check_object_id(object_id)
        except InvalidObjectId as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def _object(self, object_id: str, context) -> StoredObject:
        self._check_id(object_id, context)
        obj = self.table.get(object_id)
        if obj is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no object {object_id}")
        return obj

    def _abort(self, context, code: grpc.StatusCode, detail: str, result: str):
        self.metrics.puts.labels(result=result).inc()
        context.abort(code, detail)

    def _open_spooled(self, obj: StoredObject) -> BinaryIO | None:
        """The object's spool file, open at its start once its bytes were hashed against the table's sha256;
        None when there is none or it is corrupt.  Held open, it is read whole even if the spool removes it
        meanwhile (two nodes now hold it)."""
        try:
            file = open(self.spool.path(obj.sha256), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            return None
        if hash_file(file)[1] != obj.sha256:
            file.close()
            log.error("store.spool_corrupt", object_id=obj.id, sha256=obj.sha256)
            return None
        file.seek(0)
        return file

    def _framed(self, obj: StoredObject, blocks: Iterator[bytes]) -> Iterator[store_pb2.GetReply]:
        yield store_pb2.GetReply(header=store_pb2.ObjectHeader(id=obj.id, size=obj.size, sha256=obj.sha256))
        for block in blocks:
            yield store_pb2.GetReply(block=block)

    def _heal(self, obj: StoredObject, node: str, address: str, why: str) -> None:
        """A copy that is corrupt or gone: forget it, delete it, let the repairer make another."""
        log.warning("store.copy_corrupt", object_id=obj.id, node=node, why=why)
        self.metrics.corrupt.inc()
        self.table.drop_replica(obj.id, node)
        try:
            self.clients(address).delete(obj.id)
        except NodeCallFailed as error:
            log.warning("store.delete_copy_failed", object_id=obj.id, node=node, error=str(error))
        self.repairer.nodes_changed()


__all__ = ["BLOCK", "DEFAULT_MAX_OBJECT", "StoreManagerService"]
