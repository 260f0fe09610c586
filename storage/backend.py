"""The small interface every storage backend offers.

Names are relative, slash-separated paths such as ``photos/<id>.png`` (see
``storage/layout.py``).  A write is atomic: a reader sees the old object, or the
whole new one, never a part.
"""

from __future__ import annotations

from typing import Protocol


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


class Storage(Protocol):
    def write(self, name: str, data: bytes) -> None: ...

    def read(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...
