"""A storage node's gRPC face: ``StoreNode`` (Put, Get, Delete, Inventory, CopyTo, Usage) over its ``NodeDisk``.

Objects move in blocks both ways; nothing here holds a whole object in memory.  A put is verified
by the disk against its header before it becomes visible; a ``CopyTo`` streams the local file to
the target node's Put under the sha256 the manager names, so the target refuses a corrupt copy.

Refusals carry a gRPC code the manager acts on, and a detail text a person can read:

    malformed id, size or sha256              INVALID_ARGUMENT
    no such object                            NOT_FOUND
    bytes not what the header says            DATA_LOSS
    the node's disk is full                   RESOURCE_EXHAUSTED
    the id collides with a held object's      ALREADY_EXISTS  (``a`` held, ``a/b`` put, or the reverse)
    CopyTo: the target cannot be reached      UNAVAILABLE
    CopyTo: the target refused                the target's code

A CopyTo failure that comes from the target carries trailing metadata ``COPY_FAILED_AT: target``
(``NodeCallFailed.at_target``), so the manager does not take a live source for a dead one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NoReturn

import grpc
import structlog

from protos import store_pb2, store_pb2_grpc
from store import streams
from store.ids import InvalidDigest, InvalidObjectId, check_sha256
from store.node.disk import DiskFull, InvalidSize, NodeDisk, ObjectIdConflict, ObjectNotFound
from store.node_client import COPY_FAILED_AT, NodeCallFailed, NodeClient

log = structlog.get_logger()

SERVICE_NAME = store_pb2.DESCRIPTOR.services_by_name["StoreNode"].full_name
DEFAULT_COPY_TIMEOUT = 600.0
_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidObjectId, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidDigest, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidSize, grpc.StatusCode.INVALID_ARGUMENT),
    (ObjectNotFound, grpc.StatusCode.NOT_FOUND),
    (streams.StreamError, grpc.StatusCode.DATA_LOSS),
    (DiskFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ObjectIdConflict, grpc.StatusCode.ALREADY_EXISTS),
)


def code_of(error: BaseException) -> grpc.StatusCode | None:
    """The gRPC code a refusal of the disk is answered with; None for anything that is not a refusal."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return None


def _abort(context: grpc.ServicerContext, error: Exception, what: str) -> NoReturn:
    code = code_of(error)
    if code is None:
        if not isinstance(error, OSError):
            raise error
        log.error("store.node_failed", what=what, error=str(error))
        context.abort(grpc.StatusCode.INTERNAL, f"{what} failed on this node: {error}")
    log.warning("store.node_refused", what=what, code=code.name, error=str(error))
    context.abort(code, str(error))


class StoreNodeService(store_pb2_grpc.StoreNodeServicer):
    def __init__(
        self,
        disk: NodeDisk,
        node: str,
        copy_timeout: float = DEFAULT_COPY_TIMEOUT,
        client_of: Callable[[str], NodeClient] | None = None,
    ) -> None:
        """``node`` is this node's id (for Usage); ``client_of`` makes the client of a CopyTo target
        (default: one ``NodeClient`` per target address, kept until ``close``)."""
        self.disk, self.node, self.copy_timeout = disk, node, copy_timeout
        self._client_of = client_of
        self._clients: dict[str, NodeClient] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Closes the channels to CopyTo targets (only the ones this service made)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _target(self, address: str) -> NodeClient:
        if self._client_of is not None:
            return self._client_of(address)
        with self._lock:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = NodeClient(address, timeout=self.copy_timeout)
            return client

    def Put(self, request_iterator, context):  # noqa: N802 - gRPC's name
        try:
            header, blocks = streams.split(request_iterator)
        except streams.StreamError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        try:
            digest = self.disk.put(header, blocks)
        except Exception as error:  # noqa: BLE001 - answered with its code, or raised again by _abort
            _abort(context, error, f"put of {header.id!r}")
        log.debug("store.node_put", object_id=header.id, size=header.size)
        return store_pb2.PutReply(id=header.id, size=header.size, sha256=digest)

    def Get(self, request, context):  # noqa: N802
        try:
            held = self.disk.open(request.id)
        except Exception as error:  # noqa: BLE001 - answered with its code, or raised again by _abort
            _abort(context, error, f"get of {request.id!r}")
        with held:
            header = streams.Header(held.id, held.size, held.sha256)
            yield from streams.framed(header, streams.file_blocks(held.file), message=store_pb2.GetReply)

    def Delete(self, request, context):  # noqa: N802
        try:
            existed = self.disk.delete(request.id)
        except Exception as error:  # noqa: BLE001 - answered with its code, or raised again by _abort
            _abort(context, error, f"delete of {request.id!r}")
        log.debug("store.node_deleted", object_id=request.id, existed=existed)
        return store_pb2.DeleteReply(existed=existed)

    def Inventory(self, request, context):  # noqa: N802
        for item in self.disk.inventory():
            yield store_pb2.InventoryEntry(id=item.id, size=item.size, sha256=item.sha256)

    def CopyTo(self, request, context):  # noqa: N802
        what = f"copy of {request.id!r} to {request.target!r}"
        if not request.target:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: no target address (host:port)")
        try:
            check_sha256(request.sha256)
            held = self.disk.open(request.id)
        except Exception as error:  # noqa: BLE001 - answered with its code, or raised again by _abort
            _abort(context, error, what)
        remaining = context.time_remaining()
        timeout = self.copy_timeout if remaining is None else max(0.1, min(self.copy_timeout, remaining))
        with held:
            header = streams.Header(held.id, held.size, request.sha256)
            try:
                stored = self._target(request.target).put_stream(header, streams.file_blocks(held.file), timeout)
            except NodeCallFailed as failure:
                self._refused_by_target(context, failure, what, held)
            except OSError as error:  # reading this node's own copy
                log.error("store.copy_read_failed", object_id=request.id, error=str(error))
                context.abort(grpc.StatusCode.INTERNAL, f"{what}: cannot read this node's copy: {error}")
        log.info("store.node_copied", object_id=request.id, target=request.target, size=stored.size)
        return store_pb2.CopyToReply(size=stored.size)

    @staticmethod
    def _refused_by_target(context, failure: NodeCallFailed, what: str, held) -> NoReturn:
        context.set_trailing_metadata(((COPY_FAILED_AT, "target"),))
        if failure.unreachable:
            code, detail = grpc.StatusCode.UNAVAILABLE, f"{what}: cannot reach the target node: {failure.detail}"
        elif failure.code is grpc.StatusCode.DATA_LOSS:
            recorded = f"this node recorded sha256 {held.sha256}" if held.sha256 else "this node has no record of it"
            code = failure.code
            detail = f"{what}: the target refused the bytes, this node's copy looks corrupt ({recorded}): " + (
                failure.detail
            )
        else:
            code, detail = failure.code, f"{what}: the target refused it: {failure.detail}"
        log.warning("store.copy_failed", what=what, code=code.name, error=failure.detail)
        context.abort(code, detail)

    def Usage(self, request, context):  # noqa: N802
        usage = self.disk.usage()
        return store_pb2.NodeUsage(
            node=self.node,
            objects=usage.objects,
            bytes=usage.bytes,
            disk_used=usage.disk_used,
            disk_total=usage.disk_total,
        )
