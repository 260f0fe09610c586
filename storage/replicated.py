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
"""

from __future__ import annotations

from storage.backend import ObjectNotFound, UnsafeName, check_name
from store.ids import InvalidObjectId, check_object_id
from store.manager_client import ManagerClient


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
