"""The ``replicated`` backend: photos kept in the replicated store (issue 8), through its manager.

A write returns once the manager has spooled the object (fsynced) and queued it for
placement on two storage nodes: the object is durable then, although its copies on the
nodes may still be on their way (the manager serves it from its spool meanwhile).  A
read is verified by the object's sha256 before its bytes are returned, so a reader
never sees a damaged copy.  A write of a name replaces the whole object, as in every
backend: a reader sees the old version or the new one.

Names are storage names (``storage/backend.py``), checked here first (``UnsafeName``),
and must also be store object ids (``store/ids.py``: ``[A-Za-z0-9._-]`` in parts not
starting with a dot), which every name of ``storage/layout.py`` is.  A manager that
cannot be reached, or refuses a call, raises ``store.manager_client.StoreCallFailed``,
an ``OSError`` like a failing disk.

Streams: a writer of known size is the manager's put stream itself (each block goes on as it
is written; nothing is held); one of unknown size gathers its blocks in a local temporary file
and puts that at ``commit``, since a put names its size first.  ``read_blocks`` hands out the
manager's blocks as they come, checked by size and sha256 on the way (``get_blocks``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from storage.backend import READ_BLOCK, ObjectNotFound, UnsafeName, check_name
from store.ids import InvalidObjectId, check_object_id
from store.manager_client import ManagerClient, PutStream


class SpooledPut:
    """A put of unknown size: blocks to a local temporary file, put whole (read in blocks) at ``commit``."""

    def __init__(self, client: ManagerClient, object_id: str) -> None:
        self.client, self.object_id = client, object_id
        self.file = tempfile.NamedTemporaryFile(prefix="photomark-put-", delete=False)  # noqa: SIM115

    def write(self, block: bytes) -> None:
        self.file.write(block)

    def commit(self) -> None:
        try:
            self.file.close()
            self.client.put_file(self.object_id, self.file.name)
        finally:
            self.abort()

    def abort(self) -> None:
        self.file.close()
        try:
            os.unlink(self.file.name)
        except FileNotFoundError:
            pass

    def local_path(self) -> str:
        self.file.flush()
        return self.file.name


class ReplicatedStorage:
    def __init__(self, address: str, timeout: float = 30.0, transfer_timeout: float = 600.0) -> None:
        self.address = address
        self.client = ManagerClient(address, timeout=timeout, transfer_timeout=transfer_timeout)

    @staticmethod
    def _check(name: str) -> str:
        check_name(name)
        try:
            return check_object_id(name)
        except InvalidObjectId as error:
            raise UnsafeName(f"unsafe storage name {name!r}: not a store object id ({error})") from None

    def write(self, name: str, data: bytes) -> None:
        self.client.put(self._check(name), bytes(data))

    def open_writer(self, name: str, size: int | None = None) -> PutStream | SpooledPut:
        object_id = self._check(name)
        return self.client.put_stream(object_id, size) if size is not None else SpooledPut(self.client, object_id)

    def read_blocks(self, name: str, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        for block in self.client.get_blocks(self._check(name)):
            for start in range(0, len(block), block_size):
                yield block[start : start + block_size]

    def read(self, name: str) -> bytes:
        return self.client.get(self._check(name))  # ObjectMissing is an ObjectNotFound

    def exists(self, name: str) -> bool:
        return self.client.stat(self._check(name)) is not None

    def size(self, name: str) -> int:
        stat = self.client.stat(self._check(name))
        if stat is None:
            raise ObjectNotFound(name)
        return stat.size

    def delete(self, name: str) -> None:
        self.client.delete(self._check(name))

    def list(self, prefix: str) -> list[str]:
        """The objects directly under ``prefix``, as a directory listing of the fs backend gives them."""
        directory = self._check(prefix.rstrip("/"))
        start = directory + "/"
        return [name for name in self.client.list(start) if "/" not in name[len(start) :]]

    def close(self) -> None:
        self.client.close()
