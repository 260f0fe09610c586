"""The storage port's promises (``storage/backend.py``), checked on every backend:
``FsStorage`` (a directory), ``MemoryStorage`` (the actor tests' fake) and
``ReplicatedStorage`` (a real store manager and two storage nodes, in-process).

A test here passes on every backend; what only one does is tested beside it
(``tests/storage/test_fs.py``: temporaries and ESTALE; ``tests/storage/test_replicated.py``:
hashes and an unreachable manager).  One difference is by design and not a promise:
the replicated store refuses a zero-byte object (photomark never writes one).
"""

from __future__ import annotations

import inspect
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from cli.roles.embedded_store import EmbeddedStore, EmbeddedStoreConfig
from storage.backend import ObjectNotFound, ObjectWriter, Storage, UnsafeName, write_stream
from storage.fs import FsStorage, FsWriter
from storage.memory import MemoryStorage, MemoryWriter
from storage.replicated import ReplicatedStorage, SpooledPut
from store.manager_client import PutStream


@pytest.fixture(params=["fs", "memory", "replicated"])
def storage(request, tmp_path):
    if request.param == "fs":
        yield FsStorage(tmp_path / "data")
    elif request.param == "memory":
        yield MemoryStorage()
    else:  # a manager and two storage nodes of its own (every test stops all actors when it ends)
        with EmbeddedStore(EmbeddedStoreConfig(tmp_path / "store", nodes=2)) as store:
            yield ReplicatedStorage(store.manager_address)


def assert_has_the_methods_of(port: type, implementation: type) -> None:
    for name, method in inspect.getmembers(port, inspect.isfunction):
        if name.startswith("_"):
            continue
        mine = getattr(implementation, name)
        assert list(inspect.signature(mine).parameters) == list(inspect.signature(method).parameters), name


@pytest.mark.parametrize("backend", [FsStorage, MemoryStorage, ReplicatedStorage])
def test_every_backend_has_the_ports_methods_with_its_parameters(backend):
    assert_has_the_methods_of(Storage, backend)


def test_write_read_overwrite_size_list_delete(storage):
    storage.write("photos/a.png", b"one")
    storage.write("photos/a.png", b"two!")
    storage.write("state/pending.json", b"{}")
    assert storage.read("photos/a.png") == b"two!"  # a write is seen by the next read
    assert storage.size("photos/a.png") == 4
    assert storage.exists("photos/a.png") and storage.exists("state/pending.json")
    assert storage.list("photos") == ["photos/a.png"]
    storage.delete("photos/a.png")
    assert not storage.exists("photos/a.png")
    with pytest.raises(ObjectNotFound):
        storage.read("photos/a.png")
    with pytest.raises(ObjectNotFound):
        storage.size("photos/a.png")


def test_deleting_a_missing_object_is_no_error(storage):
    storage.delete("photos/never.png")
    assert not storage.exists("photos/never.png")


def test_list_names_only_the_objects_directly_under_the_prefix(storage):
    for name in ("photos/a.png", "photos/b_marks.json", "photos/deeper/c.png", "photosx/d.png"):
        storage.write(name, b"x")
    assert storage.list("photos") == ["photos/a.png", "photos/b_marks.json"]
    assert storage.list("photos/") == ["photos/a.png", "photos/b_marks.json"]
    assert storage.list("nothing") == []


def test_any_bytes_come_back_as_written(storage):
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one block of the replicated store's streams
    storage.write("photos/big.png", data)
    assert storage.read("photos/big.png") == data
    assert storage.size("photos/big.png") == len(data)


def test_writes_of_different_names_from_many_threads_all_land(storage):
    names = [f"photos/{n:02d}.png" for n in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: storage.write(name, name.encode()), names))
    assert [storage.read(name) for name in names] == [name.encode() for name in names]


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "photos/../../x", "photos//a", "", "photos/./a"])
def test_names_that_would_leave_the_root_are_refused(storage, name):
    with pytest.raises(UnsafeName):
        storage.write(name, b"x")
    with pytest.raises(UnsafeName):
        storage.read(name)


# -- streams: an object written and read in blocks, never whole --


@pytest.mark.parametrize("writer", [FsWriter, MemoryWriter, PutStream, SpooledPut])
def test_every_writer_has_the_ports_methods_with_their_parameters(writer):
    assert_has_the_methods_of(ObjectWriter, writer)


@pytest.mark.parametrize("size", [None, 700_000])
def test_a_writer_s_local_path_if_any_holds_every_byte_written_so_far(storage, size):
    data = os.urandom(700_000)
    writer = storage.open_writer("photos/l.png", size)
    try:
        for start in range(0, len(data), 300_000):
            writer.write(data[start : start + 300_000])
            path = writer.local_path()
            if path is not None:
                with open(path, "rb") as file:
                    assert file.read() == data[: start + 300_000]
    finally:
        writer.abort()
    assert not storage.exists("photos/l.png")


def test_a_streamed_write_is_invisible_until_committed_and_then_whole(storage):
    data = os.urandom(2 * 1024 * 1024 + 5)
    storage.write("photos/s.png", b"old")
    writer = storage.open_writer("photos/s.png", len(data))
    for start in range(0, len(data), 256 * 1024):
        writer.write(data[start : start + 256 * 1024])
        assert storage.read("photos/s.png") == b"old"  # a reader sees the old object meanwhile
    writer.commit()
    assert storage.read("photos/s.png") == data
    assert storage.list("photos") == ["photos/s.png"]


@pytest.mark.parametrize("size", [None, 3 * 1024 * 1024])
def test_write_stream_takes_blocks_of_known_or_unknown_size(storage, size):
    data = os.urandom(3 * 1024 * 1024)
    blocks = (data[start : start + 100_000] for start in range(0, len(data), 100_000))
    assert write_stream(storage, "photos/w.png", blocks, size) == len(data)
    assert storage.read("photos/w.png") == data


def test_an_aborted_stream_leaves_nothing_behind(storage):
    writer = storage.open_writer("photos/gone.png", 10 * 65536)
    writer.write(bytes(65536))
    writer.abort()
    writer.abort()  # twice is no error
    assert not storage.exists("photos/gone.png")
    assert storage.list("photos") == []


def test_a_stream_whose_blocks_fail_midway_leaves_nothing_behind(storage):
    def blocks():
        yield b"x" * 65536
        raise ConnectionError("the client went away")

    with pytest.raises(ConnectionError):
        write_stream(storage, "photos/half.png", blocks(), 10 * 65536)
    assert not storage.exists("photos/half.png")
    assert storage.list("photos") == []


def test_a_stream_shorter_than_announced_is_refused_and_leaves_nothing(storage):
    with pytest.raises((ValueError, OSError)):
        write_stream(storage, "photos/short.png", [b"abc"], 10)
    assert not storage.exists("photos/short.png")


def test_read_blocks_hands_out_the_object_in_blocks_of_at_most_the_size_asked(storage):
    data = os.urandom(3 * 1024 * 1024 + 17)
    storage.write("photos/big.png", data)
    blocks = list(storage.read_blocks("photos/big.png", 512 * 1024))
    assert b"".join(blocks) == data
    assert max(len(block) for block in blocks) <= 512 * 1024
    with pytest.raises(ObjectNotFound):
        next(storage.read_blocks("photos/none.png"))
