"""The store manager's client, as storage backends, the command line and storage nodes use it.

Objects travel as ``store/streams.py`` frames them: a header (id, size, sha256), then
blocks of at most ``streams.BLOCK`` bytes.  A put names the sha256 the client computed,
so the manager refuses bytes damaged on the way; a get is verified against the sha256
its header names before any byte of it is handed out (``get``) or becomes visible under
its final name (``get_to_file``).

Failures leave as two exceptions: ``ObjectMissing`` (an ``ObjectNotFound``, so a
storage backend's callers need nothing new) when a get finds no object, and
``StoreCallFailed`` (an ``OSError``: the rest of photomark treats storage that cannot
answer as an outage, not as the photo's fault) for every other gRPC error, and for a
reply that is not what its header says (``DATA_LOSS``).  A malformed object id is refused
before any call, with ``store.ids.InvalidObjectId`` (a ``ValueError``).  One gRPC channel serves every
call; gRPC channels and stubs are thread-safe, so one client may serve many threads.
"""

from __future__ import annotations

import hashlib
import os
import queue
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc

from protos import store_pb2, store_pb2_grpc
from storage.backend import ObjectNotFound
from store import streams
from store.ids import InvalidDigest, check_object_id, check_sha256
from store.model import InventoryItem

Progress = Callable[[int], None]  # called with the bytes moved since the last call
# How gRPC's transport words an UNAVAILABLE of its own (the manager's own UNAVAILABLE says something else).
TRANSPORT_FAILURES = (
    "failed to connect",
    "connection refused",
    "connection reset",
    "connections to all backends failing",
    "dns resolution failed",
    "socket closed",
    "broken pipe",
    "end of tcp stream",
)


class ObjectMissing(ObjectNotFound):
    """The manager has no object of that id."""


class StoreCallFailed(OSError):
    """A call to the store manager failed: ``code`` is the gRPC status, ``detail`` what the manager (or the
    transport) said.  ``refused_here`` marks a reply this client refused (``DATA_LOSS``: not what its header
    says), as opposed to an answer of the manager's."""

    def __init__(
        self,
        code: grpc.StatusCode | None,
        detail: str,
        what: str = "",
        address: str = "",
        refused_here: bool = False,
    ) -> None:
        self.code, self.detail, self.what, self.address = code, detail, what, address
        self.refused_here = refused_here
        super().__init__(describe(code, detail, what, address, refused_here))

    @property
    def unreachable(self) -> bool:
        """The manager could not be reached, or did not answer in time (not: it answered UNAVAILABLE itself)."""
        return self.code is grpc.StatusCode.DEADLINE_EXCEEDED or _transport_failure(self.code, self.detail)


def _transport_failure(code: grpc.StatusCode | None, detail: str) -> bool:
    """UNAVAILABLE raised by gRPC's transport (no connection), rather than sent by the manager about an object."""
    return code is grpc.StatusCode.UNAVAILABLE and any(marker in detail.lower() for marker in TRANSPORT_FAILURES)


def describe(
    code: grpc.StatusCode | None, detail: str, what: str = "", address: str = "", refused_here: bool = False
) -> str:
    """One line for a person: what was being done, what went wrong, and the gRPC code."""
    where = f"the store manager at {address}" if address else "the store manager"
    if refused_here:
        reason = f"{detail} (a reply of {where}, refused)"
    elif _transport_failure(code, detail):
        reason = f"cannot reach {where} ({detail})"
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        reason = f"{where} did not answer in time ({detail})"
    else:
        reason = f"{where} answered: {detail}"
    line = f"{what}: {reason}" if what else reason
    return f"{line} [{code.name if code is not None else 'ERROR'}]"


@dataclass(frozen=True)
class PutResult:
    id: str
    size: int
    sha256: str
    version: int


@dataclass(frozen=True)
class ObjectStat:
    id: str
    size: int
    sha256: str
    version: int
    nodes: tuple[str, ...]  # nodes holding a good copy, primary first
    spooled: bool  # the manager's spool still holds a copy


@dataclass(frozen=True)
class NodeStats:
    node: str
    address: str
    state: str  # live | joining | down
    objects: int
    bytes: int
    disk_used: int
    disk_total: int


@dataclass(frozen=True)
class StoreStats:
    objects: int
    bytes: int
    under_replicated: int  # objects with fewer than two good copies on live nodes
    spooled: int
    live_nodes: int
    nodes: tuple[NodeStats, ...]
    note: str

    @classmethod
    def of(cls, message: store_pb2.StoreStats) -> StoreStats:
        nodes = tuple(
            NodeStats(n.node, n.address, n.state, n.objects, n.bytes, n.disk_used, n.disk_total) for n in message.nodes
        )
        return cls(
            message.objects,
            message.bytes,
            message.under_replicated,
            message.spooled,
            message.live_nodes,
            nodes,
            message.note,
        )


def _counted(blocks: Iterable[bytes], progress: Progress | None) -> Iterator[bytes]:
    """``blocks`` unchanged, reporting each one to ``progress`` once gRPC has taken it."""
    for block in blocks:
        yield block
        if progress is not None:
            progress(len(block))


def _bounded_blocks(file: BinaryIO, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of ``file`` in blocks: a file that grew since it was hashed sends what was hashed
    (and one that shrank sends less, which the manager refuses)."""
    left = size
    while left > 0 and (block := file.read(min(streams.BLOCK, left))):
        left -= len(block)
        yield block


def _check_verified(header: streams.Header) -> None:
    """A reply whose header names no sha256 cannot have been verified: refuse it."""
    try:
        check_sha256(header.sha256)
    except InvalidDigest as error:
        raise streams.StreamError(f"{header.id}: the reply names no usable sha256 ({error})") from None


def _progress_of(progress: Progress | None) -> Callable[[int], None] | None:
    """``streams.receive`` reports the bytes received so far; a ``Progress`` wants the bytes since the last call."""
    if progress is None:
        return None
    seen = 0

    def report(total: int) -> None:
        nonlocal seen
        progress(total - seen)
        seen = total

    return report


class ManagerClient:
    def __init__(self, address: str, timeout: float = 30.0, transfer_timeout: float = 600.0) -> None:
        """``timeout`` bounds each short call (stat, delete, list, stats), ``transfer_timeout`` each put or get."""
        self.address, self.timeout, self.transfer_timeout = address, timeout, transfer_timeout
        self.channel = streams.channel(address)
        self.stub = store_pb2_grpc.StoreManagerStub(self.channel)

    def __enter__(self) -> ManagerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @contextmanager
    def _calling(self, what: str, missing: str | None = None):
        """gRPC errors as ``StoreCallFailed``; NOT_FOUND as ``ObjectMissing(missing)`` when ``missing`` is given."""
        try:
            yield
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            detail = (error.details() if hasattr(error, "details") else "") or str(error)
            if code is grpc.StatusCode.NOT_FOUND and missing is not None:
                raise ObjectMissing(missing) from None
            raise StoreCallFailed(code, detail, what, self.address) from None
        except streams.StreamError as error:
            raise StoreCallFailed(
                grpc.StatusCode.DATA_LOSS, str(error), what, self.address, refused_here=True
            ) from error

    # -- objects ----------------------------------------------------------------------------

    def put(self, object_id: str, data: bytes, progress: Progress | None = None) -> PutResult:
        """Store ``data`` under ``object_id``; returns once the manager has spooled and queued it."""
        header = streams.Header(check_object_id(object_id), len(data), streams.sha256_of(data))
        return self._put(header, streams.blocks_of(data), progress)

    def put_file(self, object_id: str, path: str | os.PathLike[str], progress: Progress | None = None) -> PutResult:
        """Store the file at ``path``, read twice in blocks (once to hash it, once to send it), never whole."""
        check_object_id(object_id)
        size, digest = streams.file_sha256(path)
        with open(path, "rb") as file:
            return self._put(streams.Header(object_id, size, digest), _bounded_blocks(file, size), progress)

    def _put(self, header: streams.Header, blocks: Iterable[bytes], progress: Progress | None) -> PutResult:
        what, failed = f"putting {header.id}", []

        def requests() -> Iterator[store_pb2.PutRequest]:
            try:
                yield from streams.framed(header, _counted(blocks, progress))
            except Exception as error:  # gRPC would only say CANCELLED: keep what went wrong on this side
                failed.append(error)
                raise

        try:
            with self._calling(what):
                reply = self.stub.Put(requests(), timeout=self.transfer_timeout)
        except StoreCallFailed:
            if failed:
                raise failed[0] from None
            raise
        if reply.sha256 and reply.sha256 != header.sha256:
            detail = f"the manager recorded sha256 {reply.sha256}, the bytes sent hash to {header.sha256}"
            raise StoreCallFailed(grpc.StatusCode.DATA_LOSS, detail, what, self.address, refused_here=True)
        return PutResult(reply.id or header.id, reply.size, reply.sha256 or header.sha256, reply.version)

    def put_stream(self, object_id: str, size: int) -> PutStream:
        """A put whose ``size`` bytes are handed over in blocks as they come (``PutStream.write``), for a
        sender that never holds the object whole; the manager answers at ``PutStream.commit``."""
        return PutStream(self, streams.Header(check_object_id(object_id), size))

    def get_blocks(self, object_id: str) -> Iterator[bytes]:
        """The object's blocks as they arrive, never the object whole.  The manager verified the copy it
        sends; the blocks are checked against the header's size and sha256 as they pass, and a stream that
        does not match ends with ``StoreCallFailed`` (``DATA_LOSS``) after its last block, so a reader that
        goes on to commit anything must wait for the end.  ``ObjectMissing`` at the first block."""
        check_object_id(object_id)
        with self._getting(object_id) as stream:
            header, blocks = streams.split(stream)
            _check_verified(header)
            digest, size = hashlib.sha256(), 0
            for block in blocks:
                size += len(block)
                if size > header.size:
                    raise streams.StreamError(f"{object_id}: more than the {header.size} bytes announced")
                digest.update(block)
                yield block
            if size != header.size or digest.hexdigest() != header.sha256:
                raise streams.StreamError(f"{object_id}: {size} bytes with another sha256 than announced")

    @contextmanager
    def _getting(self, object_id: str):
        """The gRPC stream of a get, cancelled on the way out (a no-op once it has ended), its errors mapped."""
        with self._calling(f"getting {object_id}", missing=object_id):
            stream = self.stub.Get(store_pb2.GetRequest(id=object_id), timeout=self.transfer_timeout)
            try:
                yield stream
            finally:
                stream.cancel()

    def get(self, object_id: str) -> bytes:
        """The object's bytes, verified by size and sha256; ``ObjectMissing`` when there is none."""
        check_object_id(object_id)
        with self._getting(object_id) as stream:
            header, data = streams.collect(stream)
            _check_verified(header)
        return data

    def get_to_file(
        self, object_id: str, path: str | os.PathLike[str], progress: Progress | None = None
    ) -> streams.Header:
        """Stream the object into a temporary beside ``path``, verify it, fsync it and rename it to ``path``:
        ``path`` ends holding the whole verified object, or as it was.  Returns the object's header."""
        check_object_id(object_id)
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with self._getting(object_id) as stream:
                header, blocks = streams.split(stream)
                _check_verified(header)
                with open(temporary, "wb") as file:
                    streams.receive(header, blocks, file, _progress_of(progress))
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return header

    def delete(self, object_id: str) -> bool:
        """Remove every copy; True when there was an object to remove."""
        check_object_id(object_id)
        try:
            with self._calling(f"deleting {object_id}", missing=object_id):
                return self.stub.Delete(store_pb2.DeleteRequest(id=object_id), timeout=self.timeout).existed
        except ObjectMissing:
            return False

    def stat(self, object_id: str) -> ObjectStat | None:
        """What the manager records of the object, or None when it has none."""
        check_object_id(object_id)
        try:
            with self._calling(f"asking about {object_id}", missing=object_id):
                reply = self.stub.Stat(store_pb2.StatRequest(id=object_id), timeout=self.timeout)
        except ObjectMissing:
            return None
        return ObjectStat(reply.id, reply.size, reply.sha256, reply.version, tuple(reply.nodes), reply.spooled)

    def list(self, prefix: str = "") -> list[str]:
        """The ids that start with ``prefix`` (a plain string prefix, not a directory), sorted."""
        with self._calling(f"listing {prefix!r}"):
            return sorted(self.stub.List(store_pb2.ListRequest(prefix=prefix), timeout=self.timeout).ids)

    def stats(self) -> StoreStats:
        with self._calling("asking for the store's figures"):
            return StoreStats.of(self.stub.Stats(store_pb2.StatsRequest(), timeout=self.timeout))

    # -- storage nodes ----------------------------------------------------------------------

    def report_inventory(self, hello: store_pb2.NodeHello, items: Iterable[InventoryItem]) -> store_pb2.InventoryReply:
        """A node's hello, then one entry per item, streamed as ``items`` yields them."""

        def reports() -> Iterator[store_pb2.InventoryReport]:
            yield store_pb2.InventoryReport(hello=hello)
            for item in items:
                entry = store_pb2.InventoryEntry(id=item.id, size=item.size, sha256=item.sha256)
                yield store_pb2.InventoryReport(entry=entry)

        with self._calling(f"reporting the inventory of node {hello.node}"):
            return self.stub.ReportInventory(reports(), timeout=self.transfer_timeout)


_END, _ABORT = object(), object()


class PutStream:
    """One put in flight: gRPC's own thread sends the header and then each block ``write`` queues (at most
    ``depth`` blocks wait, so a fast writer waits for the wire rather than filling memory).  ``commit``
    ends the stream and returns the manager's answer, checked against the sha256 of what was sent;
    ``abort`` cancels the call, and the manager keeps nothing of it."""

    def __init__(self, client: ManagerClient, header: streams.Header, depth: int = 4) -> None:
        self.client, self.header = client, header
        self.blocks: queue.Queue = queue.Queue(maxsize=depth)
        self.digest, self.sent, self.ended = hashlib.sha256(), 0, False
        self.call = client.stub.Put.future(self._requests(), timeout=client.transfer_timeout)

    def _requests(self) -> Iterator[store_pb2.PutRequest]:
        yield store_pb2.PutRequest(header=self.header.message())
        while (block := self.blocks.get()) is not _END:
            if block is _ABORT:
                return
            yield store_pb2.PutRequest(block=block)

    def _offer(self, item: object) -> None:
        """Queue ``item`` unless the call has ended (refused, cancelled): then nobody takes it any more."""
        while not self.call.done():
            try:
                self.blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def write(self, block: bytes) -> None:
        if self.ended:
            raise ValueError(f"{self.header.id}: the put has ended")
        self.sent += len(block)
        if self.sent > self.header.size:
            raise ValueError(f"{self.header.id}: more than the {self.header.size} bytes announced")
        self.digest.update(block)
        self._offer(bytes(block))
        if self.call.done():
            self.commit()  # the manager refused the stream: its answer, as an error, now

    def commit(self) -> PutResult:
        what = f"putting {self.header.id}"
        self.ended = True
        self._offer(_END)
        with self.client._calling(what):
            reply = self.call.result()
        sha256 = self.digest.hexdigest()
        if reply.sha256 and reply.sha256 != sha256:
            detail = f"the manager recorded sha256 {reply.sha256}, the bytes sent hash to {sha256}"
            raise StoreCallFailed(grpc.StatusCode.DATA_LOSS, detail, what, self.client.address, refused_here=True)
        return PutResult(reply.id or self.header.id, reply.size, reply.sha256 or sha256, reply.version)

    def local_path(self) -> None:
        return None  # the blocks are on their way to the manager

    def abort(self) -> None:
        self.ended = True
        self.call.cancel()
        try:
            self.blocks.put_nowait(_ABORT)  # a sender waiting for a block ends
        except queue.Full:
            pass
