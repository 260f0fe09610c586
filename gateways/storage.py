"""The storage gateway: an actor in front of a storage backend.

With ``storage.fs.FsStorage`` it reaches a directory or a Gluster mount; its
fake twin is the same actor over ``storage.memory.MemoryStorage``.  Each role
has its own gateway, so one role's slow write does not hold up another's.
"""

from __future__ import annotations

import pykka

from storage.backend import Storage


class StorageGateway(pykka.ThreadingActor):
    def __init__(self, backend: Storage) -> None:
        super().__init__()
        self.backend = backend

    def write(self, name: str, data: bytes) -> None:
        self.backend.write(name, data)

    def read(self, name: str) -> bytes:
        return self.backend.read(name)

    def exists(self, name: str) -> bool:
        return self.backend.exists(name)

    def size(self, name: str) -> int:
        return self.backend.size(name)

    def delete(self, name: str) -> None:
        self.backend.delete(name)

    def list(self, prefix: str) -> list[str]:
        return self.backend.list(prefix)
