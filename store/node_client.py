"""A storage node's client, as the manager calls a node and a node calls another (``CopyTo``).

Objects travel as ``store/streams.py`` frames them: a header (id, size, sha256), then blocks of at
most ``streams.BLOCK`` bytes, never the whole object in one message.  A node verifies a put against
the header before it keeps anything; a get is verified here against the header's sha256, or the
caller's own record of it (``expect_sha256``), before any byte is handed out.

Every failure leaves as ``NodeCallFailed`` with the gRPC code and the node's detail text.  Its
``unreachable`` says the node itself could not be reached (UNAVAILABLE or DEADLINE_EXCEEDED from
the transport or from the node about itself), so the manager can tell a dead node from a refused
request.  A ``copy_to`` whose *target* failed is marked by the node (trailing metadata
``COPY_FAILED_AT``): ``at_target`` is then True, ``target_unreachable`` says the target could not
be reached, and ``unreachable`` stays False (the node that was called answered).  Ids are checked by
the node, not here, so a malformed id is a ``NodeCallFailed`` (INVALID_ARGUMENT) like any refusal.

One gRPC channel per client; channels and stubs are thread-safe, so one client serves many threads.
The channel (``streams.channel``) retries a lost connection within 2 s, so a node that comes back
is reachable again in about that long.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import grpc

from protos import store_pb2, store_pb2_grpc
from store import streams
from store.model import InventoryItem

MIN_TRANSFER_RATE = 4 * 1024 * 1024  # bytes per second below which a transfer counts as stalled
COPY_FAILED_AT = "photomark-copy-failed-at"  # trailing metadata of a CopyTo whose target failed: "target"
UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class NodeCallFailed(Exception):
    """A call to a storage node failed: ``code`` is the gRPC status, ``detail`` what the node said."""

    def __init__(
        self, code: grpc.StatusCode, detail: str, what: str = "", address: str = "", at_target: bool = False
    ) -> None:
        self.code, self.detail, self.what, self.address, self.at_target = code, detail, what, address, at_target
        where = f"storage node {address}" if address else "storage node"
        super().__init__(f"{what + ': ' if what else ''}{where}: {detail} [{code.name}]")

    @property
    def unreachable(self) -> bool:
        """The node called could not be reached (or did not answer in time): it may be dead."""
        return self.code in UNREACHABLE and not self.at_target

    @property
    def target_unreachable(self) -> bool:
        """The node called answered that the target of its ``copy_to`` could not be reached."""
        return self.code in UNREACHABLE and self.at_target


@dataclass(frozen=True)
class Stored:
    id: str
    size: int
    sha256: str


@dataclass(frozen=True)
class NodeUsage:
    node: str
    objects: int
    bytes: int  # bytes of the objects the node holds
    disk_used: int  # its file system's
    disk_total: int


def _bounded_blocks(file: BinaryIO, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of ``file``: a file that grew sends what was announced, one that shrank sends
    less, which the node refuses."""
    left = size
    while left > 0 and (block := file.read(min(streams.BLOCK, left))):
        left -= len(block)
        yield block


def _failed_at_target(error: grpc.RpcError) -> bool:
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 - an error raised before any call has no metadata
        return False
    return any(key == COPY_FAILED_AT and value == "target" for key, value in metadata)


class NodeClient:
    def __init__(
        self,
        address: str,
        timeout: float = 30.0,
        transfer_timeout: float | None = None,
        min_rate: float = MIN_TRANSFER_RATE,
    ) -> None:
        """``timeout`` bounds each call; ``transfer_timeout`` (default: ``timeout``) those that move objects of
        unknown size (the inventory).  A transfer of a known size gets ``timeout`` plus the time it takes at
        ``min_rate`` bytes per second: a node that stalls (paused, or its disk hung) fails the call in a time
        in proportion to the object, not after minutes, and the manager counts it as failing."""
        self.address, self.timeout, self.min_rate = address, timeout, min_rate
        self.transfer_timeout = timeout if transfer_timeout is None else transfer_timeout
        self.channel = streams.channel(address)
        self.stub = store_pb2_grpc.StoreNodeStub(self.channel)

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @contextmanager
    def _calling(self, what: str):
        """gRPC errors, and replies that are not what their header says, as ``NodeCallFailed``."""
        try:
            yield
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
            detail = (error.details() if hasattr(error, "details") else "") or str(error)
            raise NodeCallFailed(code, detail, what, self.address, _failed_at_target(error)) from None
        except streams.StreamError as error:
            raise NodeCallFailed(grpc.StatusCode.DATA_LOSS, str(error), what, self.address) from error

    # -- objects --------------------------------------------------------------------------------

    def put(self, object_id: str, data: bytes, sha256: str) -> Stored:
        """Stores ``data`` as ``object_id``; the node keeps it only if it hashes to ``sha256``."""
        header = streams.Header(object_id, len(data), sha256)
        return self.put_stream(header, streams.blocks_of(data), timeout=self.deadline(len(data)))

    def put_file(self, object_id: str, path: str | os.PathLike[str], size: int, sha256: str) -> Stored:
        """Stores ``size`` bytes of the file at ``path``, read and sent in blocks, never whole."""
        with open(path, "rb") as file:
            header = streams.Header(object_id, size, sha256)
            return self.put_stream(header, _bounded_blocks(file, size), timeout=self.deadline(size))

    def deadline(self, size: int | None) -> float:
        """How long a transfer of ``size`` bytes may take (``transfer_timeout`` when the size is unknown)."""
        return self.transfer_timeout if size is None else self.timeout + size / self.min_rate

    def put_stream(self, header: streams.Header, blocks: Iterable[bytes], timeout: float | None = None) -> Stored:
        """Stores the stream ``blocks`` under ``header``; an error reading ``blocks`` is raised as it was."""
        failed: list[BaseException] = []

        def requests() -> Iterator[store_pb2.PutRequest]:
            try:
                yield from streams.framed(header, blocks)
            except Exception as error:  # gRPC would only say CANCELLED: keep what went wrong on this side
                failed.append(error)
                raise

        try:
            with self._calling(f"putting {header.id}"):
                reply = self.stub.Put(requests(), timeout=self.transfer_timeout if timeout is None else timeout)
        except NodeCallFailed:
            if failed:
                raise failed[0] from None
            raise
        return Stored(reply.id, reply.size, reply.sha256)

    @contextmanager
    def _getting(self, object_id: str, size: int | None = None):
        with self._calling(f"getting {object_id}"):
            stream = self.stub.Get(store_pb2.GetRequest(id=object_id), timeout=self.deadline(size))
            try:
                yield stream
            finally:
                stream.cancel()  # a no-op once the stream has ended

    def get(self, object_id: str, expect_sha256: str = "", size: int | None = None) -> bytes:
        """The object's bytes, verified by size and by ``expect_sha256`` (else the sha256 the node recorded);
        ``size``, when the caller knows it, sets the deadline."""
        with self._getting(object_id, size) as stream:
            _, data = streams.collect(stream, expect_sha256)
        return data

    def get_into(
        self, object_id: str, into: BinaryIO, expect_sha256: str = "", size: int | None = None
    ) -> streams.Header:
        """Writes the object to ``into`` block by block (not fsynced), verified like ``get``; on a failure
        ``into`` holds a part, which the caller discards.  Returns the header, with the sha256 checked."""
        with self._getting(object_id, size) as stream:
            header, blocks = streams.split(stream)
            if expect_sha256:
                header = streams.Header(header.id, header.size, expect_sha256)
            digest = streams.receive(header, blocks, into)
        return streams.Header(header.id, header.size, digest)

    def delete(self, object_id: str) -> bool:
        """Removes the node's copy; False when it had none."""
        with self._calling(f"deleting {object_id}"):
            return self.stub.Delete(store_pb2.DeleteRequest(id=object_id), timeout=self.timeout).existed

    def inventory(self) -> list[InventoryItem]:
        """Every object the node holds, as it hashes them now (this reads the node's whole disk)."""
        with self._calling("taking the inventory"):
            entries = self.stub.Inventory(store_pb2.InventoryRequest(), timeout=self.transfer_timeout)
            return [InventoryItem(entry.id, entry.size, entry.sha256) for entry in entries]

    def copy_to(self, object_id: str, target: str, sha256: str, size: int | None = None) -> int:
        """Has the node stream its copy to the node at ``target``, which keeps it only if it hashes to
        ``sha256``; returns the size copied."""
        request = store_pb2.CopyToRequest(id=object_id, target=target, sha256=sha256)
        with self._calling(f"copying {object_id} to {target}"):
            return self.stub.CopyTo(request, timeout=self.deadline(size)).size

    def usage(self) -> NodeUsage:
        with self._calling("asking for usage"):
            reply = self.stub.Usage(store_pb2.UsageRequest(), timeout=self.timeout)
        return NodeUsage(reply.node, reply.objects, reply.bytes, reply.disk_used, reply.disk_total)
