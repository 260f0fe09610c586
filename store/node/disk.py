"""A storage node's directory: objects written whole or not at all, each with the sha256 it had on arrival.

Layout under the node's root::

    node-id                         the node's id, written at its first start (``node_id``)
    objects/<id>                    an object; the id's slash-separated parts are directories
    objects/<dir>/.<name>.sha256    its record: "sha256 size inode", written when it arrived
    objects/<dir>/.<random>.part    a temporary: an object (or record) still arriving

Ids never start a part with a dot (``store/ids.py``), so the hidden names can never be an object.

A put streams to a temporary while hashing, refuses a stream that is not what its header says,
fsyncs the file, writes the record to a second temporary, then (under the id's lock) renames the
object over its name and the record over its record, and fsyncs the directory: a reader sees the
old object or the whole new one, never a part.  The record names the inode it describes, so a
crash between the two renames leaves a record that visibly belongs to another file; such an
object (fsynced before its rename, hence whole) is re-hashed and recorded when the node starts
again, as are leftovers swept: temporaries and records without an object.

Reads, puts and deletes of different ids run in parallel; the lock of an id (one of a fixed set
of stripes) is held only around the renames, the unlink, and the open of a read, never while
bytes move.  Empty directories are left in place: removing them would race a put into them.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import structlog

from storage.fs import fsync_directory
from store.ids import InvalidObjectId, check_node_id, check_object_id, check_sha256
from store.model import InventoryItem
from store.streams import Header, hash_file, receive

log = structlog.get_logger()

OBJECTS = "objects"
NODE_ID_FILE = "node-id"
RECORD_SUFFIX = ".sha256"
TEMPORARY_SUFFIX = ".part"
LOCK_STRIPES = 64
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


class DiskFull(OSError):
    """The node's file system has no room for the object; nothing of it was kept."""


class ObjectNotFound(LookupError):
    """The node holds no object of that id."""

    def __init__(self, object_id: str) -> None:
        self.object_id = object_id
        super().__init__(f"no object {object_id!r} on this node")

    def __str__(self) -> str:
        return self.args[0]


class InvalidSize(ValueError):
    """An announced size the node does not take: zero, or over its limit."""


class ObjectIdConflict(ValueError):
    """The id needs a directory where an object is, or names a directory of other objects' ids."""


class NodeIdMismatch(ValueError):
    """The directory belongs to another node than the one asked for (or its ``node-id`` is unreadable)."""


@dataclass(frozen=True)
class DiskUsage:
    objects: int
    bytes: int  # bytes of the objects held
    disk_used: int  # the file system's, as statvfs sees it
    disk_total: int


@dataclass(frozen=True)
class Verified:
    """An object re-hashed against its record, both taken from the same file."""

    id: str
    size: int
    recorded: str  # "" when it has no valid record
    actual: str

    @property
    def good(self) -> bool:
        return bool(self.recorded) and self.recorded == self.actual


@dataclass
class HeldObject:
    """An object opened for reading: its size, its recorded sha256 ("" if it has no valid record) and the
    open file, which keeps reading the same bytes even if a put replaces the object meanwhile."""

    id: str
    size: int
    sha256: str
    file: BinaryIO

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> HeldObject:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class _Record:
    sha256: str
    size: int
    inode: int

    def text(self) -> str:
        return f"{self.sha256} {self.size} {self.inode}\n"

    @classmethod
    def parse(cls, text: str) -> _Record | None:
        try:
            digest, size, inode = text.split()
            return cls(check_sha256(digest), int(size), int(inode))
        except ValueError:
            return None


def record_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{RECORD_SUFFIX}")


def _temporary(directory: Path) -> Path:
    return directory / f".{secrets.token_hex(8)}{TEMPORARY_SUFFIX}"


def _regular_size(path: Path) -> int | None:
    """The size of the regular file at ``path``; None when there is none (nothing, or a directory)."""
    try:
        status = os.stat(path)
    except _MISSING:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _write_record(path: Path, record: _Record) -> None:
    """Writes ``path``'s record through a temporary and a rename (not fsynced: a lost record is rebuilt)."""
    temporary = _temporary(path.parent)
    try:
        temporary.write_text(record.text())
        os.replace(temporary, record_path(path))
    finally:
        temporary.unlink(missing_ok=True)


class NodeDisk:
    def __init__(self, root: str | os.PathLike[str], max_size: int, sweep: bool = True) -> None:
        """The node directory at ``root``.  ``sweep`` (a node starting): what an earlier run left half done is
        swept and re-recorded.  ``sweep=False`` opens a directory a running node is using, only to look at
        it (a check, a test): nothing is removed or written, a put in progress keeps its temporaries."""
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1 byte, got {max_size}")
        self.root = Path(root)
        self.objects = self.root / OBJECTS
        self.max_size = max_size
        self.objects.mkdir(parents=True, exist_ok=True)
        self._stripes = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._count_lock = threading.Lock()
        self._count, self._bytes = self._recover() if sweep else self._tally()

    # -- names ----------------------------------------------------------------------------------

    def path(self, object_id: str) -> Path:
        """Where object ``object_id`` lives (``InvalidObjectId`` for anything that is not an id)."""
        return self.objects / check_object_id(object_id)

    def _lock(self, object_id: str) -> threading.Lock:
        return self._stripes[hash(object_id) % LOCK_STRIPES]

    # -- writing --------------------------------------------------------------------------------

    def put(self, header: Header, blocks: Iterable[bytes]) -> str:
        """Stores the stream ``blocks`` as object ``header.id``, verified against the header's size and
        sha256 (both required); returns the sha256.  Raises ``InvalidObjectId``, ``InvalidDigest``,
        ``InvalidSize``, ``streams.StreamError`` (not what the header says), ``ObjectIdConflict`` or
        ``DiskFull``; whatever it raises, nothing of the stream stays on disk."""
        path = self.path(header.id)
        check_sha256(header.sha256)
        if not 0 < header.size <= self.max_size:
            raise InvalidSize(f"{header.id}: size {header.size} is not 1..{self.max_size} bytes")
        temporaries: list[Path] = []
        try:
            self._check_room(header)
            parent = self._make_parents(path, header.id)
            temporaries = [_temporary(parent), _temporary(parent)]
            with open(temporaries[0], "xb") as file:
                digest = receive(header, blocks, file)
                file.flush()
                os.fsync(file.fileno())
                record = _Record(digest, header.size, os.fstat(file.fileno()).st_ino)
            temporaries[1].write_text(record.text())
            with self._lock(header.id):
                previous = _regular_size(path)
                try:
                    os.replace(temporaries[0], path)
                except IsADirectoryError:
                    raise ObjectIdConflict(
                        f"{header.id}: the node holds objects under {header.id}/, so it cannot be an object too"
                    ) from None
                os.replace(temporaries[1], record_path(path))
                self._counted(1 if previous is None else 0, header.size - (previous or 0))
            fsync_directory(parent)
        except OSError as error:
            if error.errno in _FULL:
                raise DiskFull(f"the node's disk is full ({self.root}): cannot store {header.id}") from error
            raise
        finally:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)
        return digest

    def _check_room(self, header: Header) -> None:
        status = os.statvfs(self.objects)
        free = status.f_bavail * status.f_frsize
        if header.size > free:
            raise DiskFull(
                f"the node's disk is full ({self.root}): {header.id} needs {header.size} bytes, {free} are free"
            )

    def _make_parents(self, path: Path, object_id: str) -> Path:
        """Creates the directories ``path`` needs (each made durable in its parent); returns its directory."""
        missing, directory = [], path.parent
        while True:  # one lstat per directory: a put making the same directory meanwhile is no conflict
            try:
                is_directory = stat.S_ISDIR(os.lstat(directory).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                missing.append(directory)
                directory = directory.parent
                continue
            if is_directory:
                break
            held = directory.relative_to(self.objects).as_posix()
            raise ObjectIdConflict(f"{object_id}: the node holds an object {held!r}, which cannot be a directory")
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except FileExistsError:  # made by a concurrent put, or an object is there
                if not stat.S_ISDIR(os.lstat(directory).st_mode):
                    held = directory.relative_to(self.objects).as_posix()
                    raise ObjectIdConflict(f"{object_id}: the node holds an object {held!r}") from None
            fsync_directory(directory.parent)
        return path.parent

    def delete(self, object_id: str) -> bool:
        """Removes the object and its record; False when there was none."""
        path = self.path(object_id)
        with self._lock(object_id):
            size = _regular_size(path)
            if size is None:
                return False
            os.unlink(path)
            record_path(path).unlink(missing_ok=True)
            self._counted(-1, -size)
        fsync_directory(path.parent)
        return True

    def _counted(self, objects: int, size: int) -> None:
        with self._count_lock:
            self._count += objects
            self._bytes += size

    # -- reading --------------------------------------------------------------------------------

    def open(self, object_id: str) -> HeldObject:
        """The object opened for reading, with its size and recorded sha256; ``ObjectNotFound`` if none."""
        path = self.path(object_id)
        with self._lock(object_id):
            try:
                file = open(path, "rb")  # handed to the caller inside HeldObject
            except _MISSING:
                raise ObjectNotFound(object_id) from None
            try:
                status = os.fstat(file.fileno())
                record = self._record(path, status.st_ino)
            except BaseException:
                file.close()
                raise
        return HeldObject(object_id, status.st_size, record.sha256 if record else "", file)

    def recorded(self, object_id: str) -> str | None:
        """The sha256 the object had when it arrived; None when it has no valid record (it was replaced by
        hand, or its record was lost).  ``ObjectNotFound`` when there is no such object."""
        path = self.path(object_id)
        with self._lock(object_id):
            try:
                status = os.stat(path)
            except _MISSING:
                raise ObjectNotFound(object_id) from None
            if not stat.S_ISREG(status.st_mode):
                raise ObjectNotFound(object_id)
            record = self._record(path, status.st_ino)
        return record.sha256 if record else None

    def rehash(self, object_id: str) -> tuple[int, str]:
        """Size and sha256 of the object's bytes as they are on disk now."""
        with self.open(object_id) as held:
            return hash_file(held.file)

    def verify(self, object_id: str) -> Verified:
        """The object re-hashed and compared with its record, read from one open file, so a put that
        replaces it meanwhile is never taken for a corruption."""
        with self.open(object_id) as held:
            size, actual = hash_file(held.file)
        return Verified(object_id, size, held.sha256, actual)

    @staticmethod
    def _record(path: Path, inode: int) -> _Record | None:
        try:
            record = _Record.parse(record_path(path).read_text())
        except (OSError, UnicodeDecodeError):
            return None
        return record if record is not None and record.inode == inode else None

    def ids(self) -> list[str]:
        """The ids of every object held, sorted."""
        found = []
        for directory, dirnames, filenames in os.walk(self.objects):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            base = Path(directory).relative_to(self.objects)
            for name in filenames:
                object_id = (base / name).as_posix()
                if not name.startswith(".") and _is_object_id(object_id):
                    found.append(object_id)
        return sorted(found)

    def inventory(self) -> Iterator[InventoryItem]:
        """Every object held, re-hashed now: what is really on disk, whatever its record says."""
        for object_id in self.ids():
            try:
                size, digest = self.rehash(object_id)
            except ObjectNotFound:  # deleted meanwhile
                continue
            yield InventoryItem(object_id, size, digest)

    def usage(self) -> DiskUsage:
        status = os.statvfs(self.objects)
        with self._count_lock:
            count, size = self._count, self._bytes
        return DiskUsage(
            objects=count,
            bytes=size,
            disk_used=(status.f_blocks - status.f_bfree) * status.f_frsize,
            disk_total=status.f_blocks * status.f_frsize,
        )

    # -- start-up -------------------------------------------------------------------------------

    def _recover(self) -> tuple[int, int]:
        """Sweeps what an earlier run left half done; returns the count and bytes of the objects held."""
        count = size = swept = 0
        for directory, _, filenames in os.walk(self.objects):
            here = Path(directory)
            names = set(filenames)
            for name in filenames:
                path = here / name
                if name.endswith(TEMPORARY_SUFFIX) and name.startswith("."):
                    path.unlink(missing_ok=True)
                    swept += 1
                elif name.endswith(RECORD_SUFFIX) and name.startswith("."):
                    if name[1 : -len(RECORD_SUFFIX)] not in names:
                        path.unlink(missing_ok=True)
                        swept += 1
                elif not name.startswith(".") and _is_object_id(path.relative_to(self.objects).as_posix()):
                    count, size = count + 1, size + self._check_record(path)
        if swept:
            log.info("store.disk_swept", root=str(self.root), removed=swept)
        return count, size

    def _tally(self) -> tuple[int, int]:
        """The count and bytes of the objects held, found without touching anything."""
        sizes = [size for object_id in self.ids() if (size := _regular_size(self.objects / object_id)) is not None]
        return len(sizes), sum(sizes)

    def _check_record(self, path: Path) -> int:
        """Records the object at ``path`` if its record is missing or belongs to another file; returns its size."""
        with open(path, "rb") as file:
            status = os.fstat(file.fileno())
            if self._record(path, status.st_ino) is not None:
                return status.st_size
            size, digest = hash_file(file)
        _write_record(path, _Record(digest, size, status.st_ino))
        log.warning(
            "store.disk_rerecorded", object_id=path.relative_to(self.objects).as_posix(), size=size, sha256=digest
        )
        return size


def _is_object_id(name: str) -> bool:
    try:
        check_object_id(name)
    except InvalidObjectId:
        return False
    return True


def node_id(root: str | os.PathLike[str], requested: str | None = None) -> str:
    """The id of the node whose directory is ``root``, kept in ``root/node-id``: written at the first start
    (``requested``, or "n" and 8 random hex digits), read at every later one.  A later start that asks for
    another id is refused with ``NodeIdMismatch``: the disk's copies are known to the manager by that id."""
    root = Path(root)
    if requested:
        check_node_id(requested)
    root.mkdir(parents=True, exist_ok=True)
    path = root / NODE_ID_FILE
    stored = _stored_node_id(path)
    if stored is None:
        chosen = requested or "n" + secrets.token_hex(4)
        temporary = _temporary(root)
        try:
            with open(temporary, "x") as file:
                file.write(chosen + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)  # never over an id another start wrote meanwhile
                fsync_directory(root)
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
        stored = _stored_node_id(path)
    if stored is None:
        raise NodeIdMismatch(f"{path} holds no node id")
    if requested and requested != stored:
        raise NodeIdMismatch(
            f"{root} is the directory of node {stored!r}, not {requested!r}: "
            f"start it as {stored!r}, or give node {requested!r} a directory of its own"
        )
    return stored


def _stored_node_id(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return check_node_id(text)
    except ValueError:
        raise NodeIdMismatch(f"{path} does not hold a node id ({text[:40]!r}): repair or remove it") from None
