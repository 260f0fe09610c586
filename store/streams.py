"""Objects as streams of blocks, the way both store services send them.

A put is a header (id, size, sha256) then the bytes in blocks of at most
``BLOCK`` bytes; a get answers the same way.  ``receive`` writes the blocks of
a stream to a file as they arrive, hashing them on the way, and refuses a
stream whose size or hash is not the header's: the caller never sees a part.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import grpc

from protos import channels, store_pb2

BLOCK = 1024 * 1024  # well under gRPC's 4 MiB message limit
MAX_MESSAGE_BYTES = channels.MAX_MESSAGE_BYTES  # blocks are at most BLOCK, well under it


def channel(address: str) -> grpc.Channel:
    """The channel both store clients use: one per client; see ``protos.channels``."""
    return channels.insecure_channel(address, MAX_MESSAGE_BYTES)


class StreamError(ValueError):
    """A stream that does not hold what its header says: wrong order, size or hash."""


@dataclass(frozen=True)
class Header:
    id: str
    size: int
    sha256: str = ""

    def message(self) -> store_pb2.ObjectHeader:
        return store_pb2.ObjectHeader(id=self.id, size=self.size, sha256=self.sha256)

    @classmethod
    def of(cls, message: store_pb2.ObjectHeader) -> Header:
        return cls(message.id, message.size, message.sha256)


def sha256_of(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Size and sha256 of a file, read in blocks."""
    with open(path, "rb") as file:
        return hash_file(file)


def hash_file(file: BinaryIO) -> tuple[int, str]:
    """Size and sha256 of what is left to read of an open file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    while block := file.read(BLOCK):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def blocks_of(data: bytes | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), BLOCK):
        yield bytes(view[start : start + BLOCK])


def file_blocks(file: BinaryIO) -> Iterator[bytes]:
    while block := file.read(BLOCK):
        yield block


def framed(header: Header, blocks: Iterable[bytes], message=store_pb2.PutRequest) -> Iterator:
    """The header, then each block, as ``PutRequest``s (or ``GetReply``s with ``message=``)."""
    yield message(header=header.message())
    for block in blocks:
        yield message(block=block)


def split(stream: Iterator) -> tuple[Header, Iterator[bytes]]:
    """The header of a framed stream (it must come first) and an iterator of its blocks."""
    try:
        first = next(stream)
    except StopIteration:
        raise StreamError("empty stream: a header comes first") from None
    if first.WhichOneof("part") != "header":
        raise StreamError("a stream starts with its header")
    header = Header.of(first.header)

    def blocks() -> Iterator[bytes]:
        for item in stream:
            if item.WhichOneof("part") != "block":
                raise StreamError("a second header in one stream")
            yield item.block

    return header, blocks()


def receive(
    header: Header,
    blocks: Iterable[bytes],
    into: BinaryIO,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Write ``blocks`` to ``into`` (not fsynced), checking them against ``header``: at most
    ``header.size`` bytes, exactly that many in all, and the header's sha256 if it names one.
    Returns the sha256 of what was written; raises ``StreamError`` otherwise."""
    digest, size = hashlib.sha256(), 0
    for block in blocks:
        size += len(block)
        if size > header.size:
            raise StreamError(f"{header.id}: more than the {header.size} bytes announced")
        digest.update(block)
        into.write(block)
        if on_progress is not None:
            on_progress(size)
    if size != header.size:
        raise StreamError(f"{header.id}: {size} bytes arrived, {header.size} were announced")
    actual = digest.hexdigest()
    if header.sha256 and actual != header.sha256:
        raise StreamError(f"{header.id}: sha256 {actual} of what arrived is not the announced {header.sha256}")
    return actual


def collect(stream: Iterator, expect_sha256: str = "") -> tuple[Header, bytes]:
    """A framed get stream read whole into memory, verified by size and hash (the header's, or
    ``expect_sha256`` when given: a reader trusts its own record over the sender's word)."""
    header, blocks = split(stream)
    if expect_sha256:
        header = Header(header.id, header.size, expect_sha256)
    parts: list[bytes] = []

    class Sink:
        def write(self, block: bytes) -> None:
            parts.append(block)

    receive(header, blocks, Sink())  # type: ignore[arg-type]
    return header, b"".join(parts)
