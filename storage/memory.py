"""An in-memory backend with the fs backend's promises, for actor tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from storage.backend import READ_BLOCK, ObjectNotFound, check_name


class MemoryWriter:
    """Blocks gathered aside; ``commit`` puts the whole object in place at once."""

    def __init__(self, storage: MemoryStorage, name: str, size: int | None) -> None:
        self.storage, self.name, self.size = storage, name, size
        self.parts: list[bytes] | None = []

    def write(self, block: bytes) -> None:
        if self.parts is None:
            raise ValueError(f"{self.name}: the writer has ended")
        self.parts.append(bytes(block))

    def commit(self) -> None:
        if self.parts is None:
            raise ValueError(f"{self.name}: the writer has ended")
        data, self.parts = b"".join(self.parts), None
        if self.size is not None and len(data) != self.size:
            raise ValueError(f"{self.name}: {len(data)} bytes written, {self.size} were announced")
        self.storage.write(self.name, data)

    def abort(self) -> None:
        self.parts = None

    def local_path(self) -> None:
        return None


class MemoryStorage:
    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _check(name: str) -> str:
        check_name(name)
        return name

    def write(self, name: str, data: bytes) -> None:
        with self._lock:
            self._objects[self._check(name)] = bytes(data)

    def open_writer(self, name: str, size: int | None = None) -> MemoryWriter:
        return MemoryWriter(self, self._check(name), size)

    def read_blocks(self, name: str, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        data = self.read(name)
        for start in range(0, len(data), block_size):
            yield data[start : start + block_size]

    def read(self, name: str) -> bytes:
        with self._lock:
            try:
                return self._objects[self._check(name)]
            except KeyError:
                raise ObjectNotFound(name) from None

    def exists(self, name: str) -> bool:
        with self._lock:
            return self._check(name) in self._objects

    def size(self, name: str) -> int:
        return len(self.read(name))

    def delete(self, name: str) -> None:
        with self._lock:
            self._objects.pop(self._check(name), None)

    def list(self, prefix: str) -> list[str]:
        start = prefix.rstrip("/") + "/"
        with self._lock:
            return sorted(name for name in self._objects if name.startswith(start) and "/" not in name[len(start) :])
