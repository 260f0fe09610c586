"""The manager's spool: each object as received, fsynced, until two nodes hold it.

Files are named by their sha256 (``spool/ab/abcdef...``), so two ids with the
same bytes share one file, and a put that is retried finds its bytes already
there.  A file is removed only when no object still spooled in the table has
that hash (the caller asks the table).  Temporaries are hidden (``.tmp-*``) and
swept at start: a put killed half-way leaves nothing a reader could see.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import structlog

from storage.fs import fsync_directory
from store.ids import check_sha256
from store.streams import Header, file_blocks, receive

log = structlog.get_logger()


class Spool:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):
            stale.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def receive(self, header: Header, blocks: Iterable[bytes]) -> str:
        """Writes a stream (checked against ``header`` by ``streams.receive``), fsyncs it and
        files it under its hash; returns the hash.  Nothing is left behind on a failure."""
        temporary = self.root / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(temporary, "wb") as file:
                sha256 = receive(header, blocks, file)
                file.flush()
                os.fsync(file.fileno())
            final = self.path(sha256)
            final.parent.mkdir(exist_ok=True)
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(final.parent)
        return sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def blocks(self, sha256: str) -> Iterator[bytes]:
        with open(self.path(sha256), "rb") as file:
            yield from file_blocks(file)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
        log.info("store.spool_removed", sha256=sha256)

    def hashes(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("??/*") if not p.name.startswith("."))
