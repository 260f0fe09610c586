"""A storage node's disk: whole objects or nothing, their sha256 recorded on arrival, the node's id kept."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from store import streams
from store.ids import InvalidDigest, InvalidNodeId, InvalidObjectId
from store.model import InventoryItem
from store.node import disk as disk_module
from store.node.disk import (
    DiskFull,
    InvalidSize,
    NodeDisk,
    NodeIdMismatch,
    ObjectIdConflict,
    ObjectNotFound,
    node_id,
    record_path,
)
from store.streams import Header, StreamError

MAX = 4 * 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header(object_id: str, data: bytes) -> Header:
    return Header(object_id, len(data), sha(data))


def put(disk: NodeDisk, object_id: str, data: bytes) -> str:
    return disk.put(header(object_id, data), streams.blocks_of(data))


def read(disk: NodeDisk, object_id: str) -> bytes:
    with disk.open(object_id) as held:
        return held.file.read()


def leftovers(root: Path) -> list[str]:
    """Hidden files that are not a record: temporaries a put must never leave behind."""
    return [
        str(path) for path in root.rglob(".*") if path.is_file() and not path.name.endswith(disk_module.RECORD_SUFFIX)
    ]


def corrupt(path: Path) -> None:
    """Flips the first byte in place, as a failing disk (or a person with an editor) would."""
    with open(path, "r+b") as file:
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))


@pytest.fixture
def disk(tmp_path: Path) -> NodeDisk:
    return NodeDisk(tmp_path / "node", max_size=MAX)


def test_put_keeps_the_object_under_its_id_with_its_sha256_recorded_beside_it(disk: NodeDisk):
    data = b"a photo" * 1000

    assert put(disk, "photos/abc.png", data) == sha(data)

    path = disk.objects / "photos" / "abc.png"
    assert path.read_bytes() == data
    assert record_path(path).name == ".abc.png.sha256"
    assert record_path(path).read_text().split()[0] == sha(data)
    with disk.open("photos/abc.png") as held:
        assert (held.size, held.sha256, held.file.read()) == (len(data), sha(data), data)
    assert disk.recorded("photos/abc.png") == sha(data)
    assert disk.ids() == ["photos/abc.png"]


def test_a_put_of_an_existing_id_replaces_the_object_whole(disk: NodeDisk):
    put(disk, "a", b"old bytes")
    put(disk, "a", b"the new bytes")

    assert read(disk, "a") == b"the new bytes"
    assert disk.recorded("a") == sha(b"the new bytes")
    assert disk.usage().objects == 1
    assert disk.usage().bytes == len(b"the new bytes")


def test_a_reader_that_opened_the_old_object_reads_it_whole_while_a_put_replaces_it(disk: NodeDisk):
    put(disk, "a", b"old" * 100_000)
    with disk.open("a") as held:
        put(disk, "a", b"new" * 100_000)
        assert held.file.read() == b"old" * 100_000
        assert held.sha256 == sha(b"old" * 100_000)
    assert read(disk, "a") == b"new" * 100_000


@pytest.mark.parametrize(
    ("announced", "sent"),
    [
        (header("a", b"the bytes announced"), b"other bytes sent!!!"),  # same size, wrong hash
        (header("a", b"ten bytes!"), b"nine byte"),  # fewer bytes
        (header("a", b"ten bytes!"), b"eleven bytes"),  # more bytes
    ],
    ids=["wrong-hash", "short", "long"],
)
def test_a_stream_that_is_not_what_its_header_says_is_refused_and_leaves_the_old_object(
    disk: NodeDisk, announced: Header, sent: bytes
):
    put(disk, "a", b"the old object")

    with pytest.raises(StreamError):
        disk.put(announced, [sent])

    assert read(disk, "a") == b"the old object"
    assert disk.recorded("a") == sha(b"the old object")
    assert leftovers(disk.root) == []


def test_a_refused_first_put_leaves_nothing_visible(disk: NodeDisk):
    with pytest.raises(StreamError):
        disk.put(header("photos/x.png", b"announced"), [b"different"])

    assert disk.ids() == []
    with pytest.raises(ObjectNotFound):
        disk.open("photos/x.png")
    assert leftovers(disk.root) == []
    assert disk.usage().objects == 0


def test_a_stream_that_breaks_off_leaves_no_temporary(disk: NodeDisk):
    def blocks():
        yield b"first half"
        raise ConnectionError("the client went away")

    with pytest.raises(ConnectionError):
        disk.put(Header("a", 20, sha(b"x" * 20)), blocks())

    assert disk.ids() == []
    assert leftovers(disk.root) == []


@pytest.mark.parametrize("size", [0, MAX + 1])
def test_a_size_outside_one_byte_to_the_limit_is_refused(disk: NodeDisk, size: int):
    with pytest.raises(InvalidSize, match=f"1..{MAX} bytes"):
        disk.put(Header("a", size, sha(b"")), [])
    assert disk.ids() == []


@pytest.mark.parametrize("digest", ["", "abc", "A" * 64, "g" * 64])
def test_a_put_without_a_well_formed_sha256_is_refused(disk: NodeDisk, digest: str):
    with pytest.raises(InvalidDigest):
        disk.put(Header("a", 3, digest), [b"abc"])
    assert disk.ids() == []


@pytest.mark.parametrize("object_id", ["../x", ".hidden", "a//b", "a/.b", "/abs", "x" * 300, "", "a b"])
def test_a_malformed_id_is_refused_for_every_operation(disk: NodeDisk, object_id: str):
    with pytest.raises(InvalidObjectId):
        disk.put(Header(object_id, 3, sha(b"abc")), [b"abc"])
    with pytest.raises(InvalidObjectId):
        disk.open(object_id)
    with pytest.raises(InvalidObjectId):
        disk.delete(object_id)
    assert disk.ids() == []
    assert list(disk.root.parent.iterdir()) == [disk.root]  # nothing written beside the node's directory


def test_an_id_that_would_need_an_object_as_a_directory_is_refused(disk: NodeDisk):
    put(disk, "a", b"object a")
    put(disk, "c/d", b"object c/d")

    with pytest.raises(ObjectIdConflict, match="'a'"):
        put(disk, "a/b", b"object a/b")
    with pytest.raises(ObjectIdConflict, match="c/"):
        put(disk, "c", b"object c")

    assert disk.ids() == ["a", "c/d"]
    assert read(disk, "a") == b"object a"
    assert leftovers(disk.root) == []
    with pytest.raises(ObjectNotFound):
        disk.open("a/b")
    with pytest.raises(ObjectNotFound):
        disk.open("c")
    assert disk.delete("c") is False


def test_delete_removes_the_object_and_its_record(disk: NodeDisk):
    put(disk, "photos/a.png", b"bytes")

    assert disk.delete("photos/a.png") is True
    assert disk.delete("photos/a.png") is False
    assert disk.ids() == []
    assert list((disk.objects / "photos").iterdir()) == []
    with pytest.raises(ObjectNotFound):
        disk.recorded("photos/a.png")


def test_inventory_reports_what_is_on_disk_after_a_corruption_and_the_record_keeps_what_arrived(disk: NodeDisk):
    put(disk, "photos/a.png", b"good bytes a")
    put(disk, "photos/b.png", b"good bytes b")
    corrupt(disk.path("photos/b.png"))
    damaged = disk.path("photos/b.png").read_bytes()

    assert list(disk.inventory()) == [
        InventoryItem("photos/a.png", 12, sha(b"good bytes a")),
        InventoryItem("photos/b.png", 12, sha(damaged)),
    ]
    assert disk.recorded("photos/b.png") == sha(b"good bytes b")
    assert disk.rehash("photos/b.png") == (12, sha(damaged))
    assert disk.verify("photos/a.png").good
    verified = disk.verify("photos/b.png")
    assert not verified.good
    assert (verified.recorded, verified.actual) == (sha(b"good bytes b"), sha(damaged))


def test_usage_counts_the_objects_and_bytes_held_and_the_file_system(disk: NodeDisk):
    put(disk, "a", b"x" * 1000)
    put(disk, "b/c", b"y" * 500)
    put(disk, "a", b"z" * 100)
    disk.delete("b/c")
    put(disk, "d", b"w" * 7)

    usage = disk.usage()
    assert (usage.objects, usage.bytes) == (2, 107)
    assert 0 < usage.disk_used <= usage.disk_total


def test_a_restart_sweeps_temporaries_and_orphan_records_and_keeps_the_counts(tmp_path: Path):
    disk = NodeDisk(tmp_path / "node", max_size=MAX)
    put(disk, "photos/a.png", b"a" * 10)
    put(disk, "photos/b.png", b"b" * 20)
    (disk.objects / "photos" / ".0123456789abcdef.part").write_bytes(b"half an object")
    (disk.objects / "photos" / ".gone.png.sha256").write_text(f"{sha(b'gone')} 4 1\n")

    again = NodeDisk(tmp_path / "node", max_size=MAX)

    assert leftovers(again.root) == []
    assert not (again.objects / "photos" / ".gone.png.sha256").exists()
    assert again.ids() == ["photos/a.png", "photos/b.png"]
    assert (again.usage().objects, again.usage().bytes) == (2, 30)
    assert again.recorded("photos/a.png") == sha(b"a" * 10)


def test_an_object_whose_record_belongs_to_another_file_is_rehashed_and_recorded_at_restart(tmp_path: Path):
    """What a crash between the object's rename and its record's leaves: the object whole (it was fsynced
    before the rename), the record of the file it replaced."""
    disk = NodeDisk(tmp_path / "node", max_size=MAX)
    put(disk, "a", b"first version")
    path = disk.path("a")
    replacement = path.with_name("replacement")
    replacement.write_bytes(b"second version")
    os.replace(replacement, path)  # a new inode under the old record
    assert disk.recorded("a") is None

    again = NodeDisk(tmp_path / "node", max_size=MAX)

    assert again.recorded("a") == sha(b"second version")
    with again.open("a") as held:
        assert held.sha256 == sha(b"second version")


def test_a_disk_without_room_for_the_object_refuses_it_before_writing(disk: NodeDisk, monkeypatch):
    real = os.statvfs(disk.objects)
    full = os.statvfs_result((real.f_bsize, 4096, real.f_blocks, 1, 1, *tuple(real)[5:]))
    monkeypatch.setattr(os, "statvfs", lambda path: full)

    with pytest.raises(DiskFull, match="disk is full"):
        put(disk, "photos/a.png", b"x" * 10_000)

    assert disk.ids() == []
    assert leftovers(disk.root) == []


def test_a_disk_that_fills_up_during_a_put_raises_disk_full_and_leaves_no_temporary(disk: NodeDisk, monkeypatch):
    def receive_until_full(header, blocks, into, on_progress=None):
        into.write(b"part of it")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk_module, "receive", receive_until_full)

    with pytest.raises(DiskFull, match="photos/a.png"):
        put(disk, "photos/a.png", b"x" * 10_000)

    assert disk.ids() == []
    assert leftovers(disk.root) == []


def test_concurrent_puts_and_reads_of_one_id_always_see_a_whole_object_and_its_own_record(disk: NodeDisk):
    versions = [bytes([n]) * (50_000 + n) for n in range(4)]
    digests = {sha(v) for v in versions}
    put(disk, "a", versions[0])
    errors: list[str] = []

    def writer(n: int) -> None:
        for _ in range(20):
            put(disk, "a", versions[n])

    def reader() -> None:
        for _ in range(100):
            with disk.open("a") as held:
                data = held.file.read()
            if sha(data) not in digests or held.sha256 != sha(data) or held.size != len(data):
                errors.append(f"read {len(data)} bytes recorded as {held.sha256}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert disk.usage().objects == 1
    assert leftovers(disk.root) == []


def test_puts_from_many_threads_into_the_same_new_directories_all_land(disk: NodeDisk):
    errors: list[BaseException] = []

    def put_share(thread: int) -> None:
        try:
            for n in range(30):
                put(disk, f"d{n}/e/x{thread}", f"{n} {thread}".encode())
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=put_share, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(disk.ids()) == 30 * 8
    assert disk.usage().objects == 30 * 8


def test_an_id_below_an_object_is_refused_however_deep(disk: NodeDisk):
    put(disk, "a", b"object a")

    with pytest.raises(ObjectIdConflict, match="'a'"):
        put(disk, "a/b/c", b"deeper")


def test_node_id_is_chosen_at_the_first_start_and_kept(tmp_path: Path):
    first = node_id(tmp_path / "node")

    assert first.startswith("n") and len(first) == 9
    assert (tmp_path / "node" / "node-id").read_text().strip() == first
    assert node_id(tmp_path / "node") == first
    assert node_id(tmp_path / "node", first) == first


def test_node_id_takes_the_requested_id_at_the_first_start(tmp_path: Path):
    assert node_id(tmp_path / "node", "node-1") == "node-1"
    assert node_id(tmp_path / "node") == "node-1"


def test_a_later_start_that_asks_for_another_node_id_is_refused(tmp_path: Path):
    node_id(tmp_path / "node", "node-1")

    with pytest.raises(NodeIdMismatch, match="directory of node 'node-1', not 'node-2'"):
        node_id(tmp_path / "node", "node-2")


def test_a_malformed_requested_node_id_is_refused(tmp_path: Path):
    with pytest.raises(InvalidNodeId):
        node_id(tmp_path / "node", "Node_1")
    assert not (tmp_path / "node" / "node-id").exists()


def test_an_unreadable_node_id_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "node-id").write_text("not a node id!\n")

    with pytest.raises(NodeIdMismatch, match="does not hold a node id"):
        node_id(tmp_path / "node")
