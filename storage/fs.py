"""The ``fs`` backend: a local directory, or a GlusterFS FUSE mount, unchanged.

Writes go to a temporary name in the same directory, are fsynced, renamed over
the final name, and the directory is fsynced, so a crash leaves the old object
or the new one, and a Gluster mount replicates the rename atomically.

On a GlusterFS mount with the default options (open-behind, stat-prefetch,
attribute caching), a read racing a rename of the same name from another client
can fail with ESTALE for up to about a second, although the object is there
(tests/integration/test_gluster_storage.py measured it).  Reads therefore retry
on ESTALE for a while; the lab volume should still use the options in the README,
with which no ESTALE was seen at all.
"""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from storage.backend import READ_BLOCK, ObjectNotFound, UnsafeName, check_name

T = TypeVar("T")
STALE_RETRY_SECONDS = 3.0


def retrying_stale(read: Callable[[], T], seconds: float = STALE_RETRY_SECONDS) -> T:
    """Runs ``read``, again after short pauses while it fails with ESTALE, for up to ``seconds``."""
    deadline, pause = time.monotonic() + seconds, 0.01
    while True:
        try:
            return read()
        except OSError as error:
            if error.errno != errno.ESTALE or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def fsync_directory(path: Path) -> None:
    """Makes a rename or a new file in ``path`` durable: the directory's own entry list reaches the disk."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class FsWriter:
    """Blocks go to a temporary beside the final name as they come; ``commit`` fsyncs it, renames it over
    the final name and fsyncs the directory; ``abort`` (or a failed commit) removes the temporary."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path, self.size, self.written = path, size, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        self.file = open(self.temporary, "wb")  # noqa: SIM115 - closed by commit or abort

    def write(self, block: bytes) -> None:
        self.file.write(block)
        self.written += len(block)

    def commit(self) -> None:
        try:
            if self.size is not None and self.written != self.size:
                raise ValueError(f"{self.path.name}: {self.written} bytes written, {self.size} were announced")
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_directory(self.path.parent)

    def abort(self) -> None:
        self.file.close()
        self.temporary.unlink(missing_ok=True)

    def local_path(self) -> str:
        self.file.flush()
        return str(self.temporary)


class FsStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        path = self.root.joinpath(*check_name(name))
        if self.root not in path.parents:  # a symlink inside the root cannot take us out either
            raise UnsafeName(f"unsafe storage name {name!r}")
        return path

    def write(self, name: str, data: bytes) -> None:
        writer = self.open_writer(name)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def open_writer(self, name: str, size: int | None = None) -> FsWriter:
        return FsWriter(self.path(name), size)

    def read_blocks(self, name: str, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        path = self.path(name)
        try:
            file = retrying_stale(lambda: open(path, "rb"))  # noqa: SIM115 - closed when the blocks end
        except FileNotFoundError:
            raise ObjectNotFound(name) from None
        with file:
            while block := file.read(block_size):
                yield block

    def read(self, name: str) -> bytes:
        path = self.path(name)
        try:
            return retrying_stale(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(name) from None

    def exists(self, name: str) -> bool:
        path = self.path(name)
        try:
            return retrying_stale(lambda: os.stat(path).st_mode) and path.is_file()
        except FileNotFoundError:
            return False

    def size(self, name: str) -> int:
        path = self.path(name)
        try:
            return retrying_stale(lambda: os.stat(path).st_size)
        except FileNotFoundError:
            raise ObjectNotFound(name) from None

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        directory = self.path(prefix.rstrip("/"))
        if not directory.is_dir():
            return []
        return sorted(
            f"{prefix.rstrip('/')}/{entry.name}"
            for entry in directory.iterdir()
            if entry.is_file() and not entry.name.startswith(".")
        )
