"""An in-memory backend with the fs backend's promises, for actor tests."""

from __future__ import annotations

import threading

from storage.backend import ObjectNotFound, check_name


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
