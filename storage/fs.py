"""The ``fs`` backend: a local directory, or a GlusterFS FUSE mount, unchanged.

Writes go to a temporary name in the same directory, are fsynced, renamed over
the final name, and the directory is fsynced, so a crash leaves the old object
or the new one, and a Gluster mount replicates the rename atomically.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from storage.backend import ObjectNotFound, UnsafeName, check_name


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
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def read(self, name: str) -> bytes:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(name) from None

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        try:
            return self.path(name).stat().st_size
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
