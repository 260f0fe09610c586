"""The small interface every storage backend offers.

Names are relative, slash-separated paths such as ``photos/<id>.png`` (see
``storage/layout.py``).  A write is atomic: a reader sees the old object, or the
whole new one, never a part.

Big objects stream both ways, so nobody holds a whole photo in memory:
``open_writer`` takes an object in blocks as they come (nothing is visible until
``commit``; ``abort``, or a writer dropped uncommitted, leaves nothing behind),
and ``read_blocks`` hands one out in blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

READ_BLOCK = 1024 * 1024  # a large block: few calls per object, well under gRPC's 4 MiB message


class ObjectNotFound(KeyError):
    """No object of that name."""


class UnsafeName(ValueError):
    """The name would leave the storage root or is not a plain relative path."""


def check_name(name: str) -> list[str]:
    """The parts of a safe object name; raises ``UnsafeName`` for anything else."""
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise UnsafeName(f"unsafe storage name {name!r}")
    return parts


class ObjectWriter(Protocol):
    """One object being written in blocks: ``commit`` makes it visible whole (replacing an older one),
    ``abort`` drops what was written.  Either ends the writer; ``abort`` after ``commit`` does nothing."""

    def write(self, block: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def local_path(self) -> str | None:
        """A file on this machine that holds every byte written so far (flushed), for a reader that wants
        them before ``commit`` (the upload's decode check); valid until the writer ends, never to be changed.
        None when the bytes are not in one (in memory, or already sent over the network)."""
        ...


class Storage(Protocol):
    def write(self, name: str, data: bytes) -> None: ...

    def open_writer(self, name: str, size: int | None = None) -> ObjectWriter:
        """A writer of object ``name``; ``size``, when known, is the bytes that will come (a backend may
        need it up front, and refuses a commit of any other count)."""
        ...

    def read_blocks(self, name: str, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        """The object's bytes in blocks of at most ``block_size``; ``ObjectNotFound`` at the first block when
        there is none."""
        ...

    def read(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...


def write_stream(storage: Storage, name: str, blocks: Iterable[bytes], size: int | None = None) -> int:
    """Write ``blocks`` as object ``name`` through a writer: committed when ``blocks`` ends, aborted (nothing
    left) when it raises.  Returns the bytes written."""
    writer, written = storage.open_writer(name, size), 0
    try:
        for block in blocks:
            writer.write(block)
            written += len(block)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return written
