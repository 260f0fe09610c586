"""The replicated store in one process: a manager and storage nodes (``EmbeddedStore``), real gRPC servers on
localhost, an in-memory broker whose durable queue outlives the manager, and an in-memory group hub.

Each test starts its own store under ``tmp_path``, puts objects through ``ManagerClient``, does one fault, and
checks both what the manager says (``Stat``, ``Stats``) and what is really on the nodes: the ids, sizes and
hashes each node's ``Inventory`` re-hashes from its disk (or ``NodeDisk`` read directly, for a stopped node).
"""

from __future__ import annotations

import hashlib
import random
import threading
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from cli.roles.config import StoreManagerConfig
from cli.roles.embedded_store import EmbeddedStore, EmbeddedStoreConfig
from protos import store_pb2
from store.manager_client import ManagerClient, ObjectMissing, StoreCallFailed
from store.model import InventoryItem
from store.node.disk import DiskFull, NodeDisk
from store.node_client import NodeCallFailed, NodeClient
from tests.polling import eventually

SETTLE = 20.0  # seconds the store may take to settle after a put or a fault (a loaded two-core machine)
MAX_OBJECT = 64 * 1024


@dataclass(frozen=True)
class Photo:
    id: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def photos(count: int, seed: int, prefix: str = "photos", size: tuple[int, int] = (200, 2000)) -> list[Photo]:
    rng = random.Random(seed)
    return [Photo(f"{prefix}/{n:04d}.jpg", rng.randbytes(rng.randint(*size))) for n in range(count)]


def config(base: Path, nodes: int = 4, **manager) -> EmbeddedStoreConfig:
    settings = {"listen": "127.0.0.1:0", "max_object_bytes": MAX_OBJECT, "metrics_interval": 0.5, **manager}
    return EmbeddedStoreConfig(base, nodes=nodes, manager=StoreManagerConfig(**settings), give_up_after=10.0)


@pytest.fixture
def running() -> Iterator[list[EmbeddedStore]]:
    """Stops every store a test started, also when it fails."""
    stores: list[EmbeddedStore] = []
    yield stores
    for store in stores:
        store.stop()


@pytest.fixture
def start(running, tmp_path):
    def start_store(nodes: int = 4, **manager) -> tuple[EmbeddedStore, ManagerClient]:
        store = EmbeddedStore(config(tmp_path, nodes, **manager))
        running.append(store)
        store.start()
        client = ManagerClient(store.manager_address, timeout=10.0, transfer_timeout=30.0)
        eventually(lambda: client.stats().live_nodes == nodes, what=f"{nodes} live nodes")
        return store, client

    return start_store


# -- what is really on the nodes --------------------------------------------------------------------------------


def on_disks(store: EmbeddedStore) -> dict[str, dict[str, tuple[int, str]]]:
    """Per running node: every object its disk holds, as (size, sha256 of the bytes on disk now)."""
    held = {}
    for name in sorted(store.nodes):
        with NodeClient(store.node_address(name), timeout=10.0) as client:
            held[name] = {item.id: (item.size, item.sha256) for item in client.inventory()}
    return held


def on_stopped_disk(store: EmbeddedStore, number: int) -> set[str]:
    """The ids on a node's directory while the node is not running (its disk read directly)."""
    return set(NodeDisk(store.node_dir(number), MAX_OBJECT).ids())


def holders(held: dict[str, dict[str, tuple[int, str]]], photo: Photo) -> list[str]:
    """The nodes holding a good copy of ``photo``."""
    return [node for node, items in held.items() if items.get(photo.id) == (len(photo.data), photo.sha256)]


def spool_files(store: EmbeddedStore) -> list[Path]:
    return [p for p in (store.base / "spool").glob("??/*") if not p.name.startswith(".")]


def all_on_two_nodes(store: EmbeddedStore, client: ManagerClient, put: list[Photo], only: bool = True) -> bool | str:
    """True once every photo is on exactly two distinct running nodes with its bytes, no node holds a bad or
    extra copy of any (``only``: nor any other object), the spool is empty and the manager counts nothing
    under-replicated; else what is not."""
    try:
        held = on_disks(store)
    except NodeCallFailed as error:
        if error.unreachable:  # a node just restarted on its port: gRPC may wait out a reconnect backoff first
            return str(error)
        raise
    for photo in put:
        good = holders(held, photo)
        anywhere = [node for node, items in held.items() if photo.id in items]
        if len(good) != 2 or len(anywhere) != 2:
            return f"{photo.id} good on {good}, held by {anywhere}"
    others = {node: sorted(set(items) - {p.id for p in put}) for node, items in held.items()}
    if only and any(others.values()):
        return f"nodes hold other objects: {others}"
    if spool_files(store):
        return f"{len(spool_files(store))} files in the spool"
    try:
        stats = client.stats()
    except StoreCallFailed as error:
        if error.unreachable:  # a manager just restarted: the client's channel is still reconnecting
            return str(error)
        raise
    if stats.under_replicated or stats.spooled:
        return f"stats say under_replicated={stats.under_replicated} spooled={stats.spooled}"
    return True


def settled(
    store: EmbeddedStore, client: ManagerClient, put: list[Photo], only: bool = True, timeout: float = SETTLE
) -> None:
    last: list[object] = []

    def check() -> bool:
        outcome = all_on_two_nodes(store, client, put, only)
        last[:] = [outcome]
        return outcome is True

    try:
        eventually(check, timeout=timeout, what=f"{len(put)} objects on two nodes each", interval=0.1)
    except pytest.fail.Exception:
        pytest.fail(f"{len(put)} objects not on two nodes each after {timeout} s: {last[0]}")


def put_all(client: ManagerClient, put: list[Photo]) -> None:
    for photo in put:
        result = client.put(photo.id, photo.data)
        assert (result.size, result.sha256) == (len(photo.data), photo.sha256)


def live_nodes(client: ManagerClient) -> int | None:
    """The live nodes the manager counts; None while it cannot be reached (just restarted)."""
    try:
        return client.stats().live_nodes
    except StoreCallFailed as error:
        if error.unreachable:
            return None
        raise


def node_number(name: str) -> int:
    return int(name.removeprefix("n"))


# -- placement ---------------------------------------------------------------------------------------------------


def test_every_object_put_ends_on_exactly_two_distinct_nodes_with_its_hash(start):
    store, client = start(nodes=4)
    put = photos(200, seed=1)

    put_all(client, put)

    settled(store, client, put)
    held = on_disks(store)
    assert Counter(len(holders(held, photo)) for photo in put) == {2: 200}
    assert all(len(items) > 0 for items in held.values()), "placement spreads objects over every node"
    for photo in put[:20]:
        stat = client.stat(photo.id)
        assert sorted(stat.nodes) == sorted(holders(held, photo)) and not stat.spooled
        assert client.get(photo.id) == photo.data
    assert client.stats().objects == 200


# -- a node leaves, and comes back with its disk -----------------------------------------------------------------


class Reader:
    """A thread reading objects in a loop until stopped, keeping every failure."""

    def __init__(self, client: ManagerClient, put: list[Photo]) -> None:
        self.client, self.put = client, put
        self.reads, self.failures = 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=SETTLE)

    def _run(self) -> None:
        while not self.stopping.is_set():
            photo = self.put[self.reads % len(self.put)]
            try:
                if self.client.get(photo.id) != photo.data:
                    self.failures.append(f"{photo.id}: wrong bytes")
            except Exception as error:  # noqa: BLE001 - every failure is what the test checks
                self.failures.append(f"{photo.id}: {error}")
            self.reads += 1


def test_a_node_that_leaves_has_its_objects_copied_to_live_nodes_while_gets_go_on(start):
    store, client = start(nodes=4)
    put = photos(60, seed=2)
    put_all(client, put)
    settled(store, client, put)
    leaving = max(on_disks(store).items(), key=lambda pair: len(pair[1]))[0]

    with Reader(client, put) as reader:
        reads_before = eventually(lambda: reader.reads, what="the reader's first reads")
        store.stop_node(leaving)
        settled(store, client, put)
        eventually(lambda: reader.reads > reads_before + len(put), what="reads after the repair")

    assert reader.failures == []
    stats = client.stats()
    assert (stats.under_replicated, stats.live_nodes) == (0, 3)
    assert {n.node: n.state for n in stats.nodes}[leaving] == "down"


def test_a_node_that_returns_with_its_disk_keeps_its_copies_and_the_replacements_go(start):
    store, client = start(nodes=4)
    put = photos(60, seed=3)
    put_all(client, put)
    settled(store, client, put)
    before = on_disks(store)
    leaving = max(before.items(), key=lambda pair: len(pair[1]))[0]
    its_copies = set(before[leaving])
    store.stop_node(leaving)
    settled(store, client, put)
    assert on_stopped_disk(store, node_number(leaving)) == its_copies

    rotten = next(p for p in put if p.id in its_copies)
    corrupt(store, leaving, rotten.id)  # while the node was away

    store.start_node(node_number(leaving))

    settled(store, client, put)
    after = on_disks(store)
    assert set(after[leaving]) == its_copies - {rotten.id}, "the returning node keeps its good copies, nothing more"
    for photo in put:
        if photo is not rotten:
            assert sorted(holders(after, photo)) == sorted(holders(before, photo)), "back to the placement it had"
        assert client.get(photo.id) == photo.data
    stats = client.stats()
    assert (stats.objects, stats.under_replicated, stats.live_nodes) == (60, 0, 4)


class Writer:
    """A thread putting objects one after another until stopped; ``answered`` are those the manager took."""

    def __init__(self, client: ManagerClient, put: list[Photo]) -> None:
        self.client, self.put = client, put
        self.answered: list[Photo] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=SETTLE)

    def _run(self) -> None:
        for photo in self.put:
            if self.stopping.is_set():
                return
            try:
                self.client.put(photo.id, photo.data)
            except StoreCallFailed as error:
                self.failures.append(f"{photo.id}: {error}")
                continue
            self.answered.append(photo)


def test_a_node_restarted_under_a_stream_of_puts_ends_with_every_object_on_exactly_two_nodes(start):
    store, client = start(nodes=4)
    put = photos(400, seed=19)
    with Writer(client, put) as writer:
        eventually(lambda: len(writer.answered) >= 40, what="40 puts answered")
        store.stop_node("n2")
        eventually(lambda: len(writer.answered) >= 120, what="120 puts answered")
        store.start_node(2)
        eventually(lambda: len(writer.answered) >= 250, what="250 puts answered")

    assert writer.failures == []
    settled(store, client, writer.answered)


def test_a_node_that_starts_while_the_manager_is_down_reports_once_the_manager_is_back(start):
    store, client = start(nodes=3)
    put = photos(20, seed=18)
    put_all(client, put)
    settled(store, client, put)
    store.stop_node("n3")
    settled(store, client, put)

    store.stop_manager()
    store.start_node(3)
    store.start_manager()

    eventually(lambda: live_nodes(client) == 3, what="every node live after the manager's restart")
    settled(store, client, put)
    assert "n3" not in store.gave_up


# -- the manager stops during placement ---------------------------------------------------------------------------


class HeldPuts:
    """Holds every node's disk put of the ids under ``prefix`` until released: placements caught half-way."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
        self.prefix = prefix
        self.arrived = threading.Event()
        self.release = threading.Event()
        put = NodeDisk.put

        def held_put(disk, header, blocks):
            if header.id.startswith(self.prefix):
                self.arrived.set()
                self.release.wait(SETTLE)
            return put(disk, header, blocks)

        monkeypatch.setattr(NodeDisk, "put", held_put)


def test_a_manager_stopped_during_placement_places_everything_after_its_restart(start, monkeypatch):
    """Every placer holds a message it has not acked (its copy to a primary is held), the rest wait in the
    queue; the manager is cut from its queue, stopped and started again."""
    store, client = start(nodes=4)
    held = HeldPuts(monkeypatch, "photos/")
    put = photos(120, seed=4)
    put_all(client, put)
    eventually(lambda: len(store.queue.unacked) == store.config.manager.placers, what="every placer busy")

    store.sever_queue()
    consumed = len(store.queue.unacked)
    waiting = len(store.queue.ready)
    held.release.set()
    store.stop_manager()
    store.start_manager()

    settled(store, client, put)
    assert (consumed, waiting) == (store.config.manager.placers, len(put) - store.config.manager.placers)
    assert not store.queue.ready and not store.queue.unacked and not store.queue.dead
    for photo in put[::15]:
        assert client.get(photo.id) == photo.data


def test_every_put_answered_before_the_manager_is_killed_is_placed_after_its_restart(start):
    store, client = start(nodes=4)
    put = photos(300, seed=5)
    answered: list[Photo] = []
    killed = threading.Event()

    def writer() -> None:
        for photo in put:
            try:
                client.put(photo.id, photo.data)
            except StoreCallFailed:
                return
            if killed.is_set():
                return  # answered during the kill: its fate is not what the test checks
            answered.append(photo)

    thread = threading.Thread(target=writer, name="writer", daemon=True)
    thread.start()
    eventually(lambda: len(answered) >= 60, what="60 puts answered")
    killed.set()
    store.kill_manager()
    thread.join(SETTLE)
    store.start_manager()

    settled(store, client, answered, only=False)  # puts answered during the kill are placed too, or not
    for photo in answered[::20]:
        assert client.get(photo.id) == photo.data


# -- too few nodes --------------------------------------------------------------------------------------------------


def test_puts_with_fewer_than_two_live_nodes_are_spooled_and_placed_when_nodes_come(start):
    store, client = start(nodes=0)
    put = photos(20, seed=6)
    put_all(client, put[:10])
    stats = client.stats()
    assert (stats.spooled, stats.live_nodes) == (10, 0)
    assert "fewer than two live nodes" in stats.note and "spool" in stats.note

    store.start_node(1)
    eventually(lambda: client.stats().live_nodes == 1, what="node n1 live")
    put_all(client, put[10:])
    eventually(lambda: all(client.stat(p.id).nodes for p in put), what="every object on the one node")
    stats = client.stats()
    assert (stats.spooled, stats.under_replicated) == (20, 20) and "fewer than two live nodes" in stats.note
    for photo in put[::5]:
        assert client.get(photo.id) == photo.data

    store.start_node(2)

    settled(store, client, put)
    assert client.stats().note == ""


# -- corrupt copies --------------------------------------------------------------------------------------------------


def corrupt(store: EmbeddedStore, node: str, object_id: str) -> None:
    """Overwrites the first bytes of a node's copy in place, as a failing disk would (its record stays)."""
    path = store.node_dir(node_number(node)) / "objects" / object_id
    with open(path, "r+b") as file:
        first = file.read(16)
        file.seek(0)
        file.write(bytes(b ^ 0xFF for b in first))


def test_a_get_that_meets_a_corrupt_copy_returns_the_good_one_and_the_copy_is_healed(start):
    store, client = start(nodes=3)
    put = photos(10, seed=7)
    put_all(client, put)
    settled(store, client, put)
    photo = put[3]
    primary = client.stat(photo.id).nodes[0]
    corrupt(store, primary, photo.id)
    assert len(holders(on_disks(store), photo)) == 1

    assert client.get(photo.id) == photo.data

    settled(store, client, put)
    assert client.get(photo.id) == photo.data


@pytest.mark.parametrize("source", ["a node", "the spool"])
def test_a_get_holds_a_few_blocks_in_memory_never_the_object(start, tmp_path, source):
    """The manager verifies a node's copy in a temporary file (or hashes its spool file) and sends it a block
    at a time.  It read the copy whole into memory before: 24 MB per get, and as many times that as gets ran at
    once.  Every Python allocation of the process counts here (manager, nodes and client): a few 1 MiB
    blocks, not the object."""
    size = 24 * 1024 * 1024
    store, client = start(nodes=2 if source == "a node" else 0, max_object_bytes=size)
    data = random.Random(5).randbytes(size)
    client.put("files/big.bin", data)
    if source == "a node":
        eventually(lambda: client.stat("files/big.bin").nodes and not spool_files(store), what="the object placed")
    else:
        assert client.stat("files/big.bin").spooled  # no node: it stays in the spool
    target = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        client.get_to_file("files/big.bin", target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    # Measured: 7.4 to 8.5 MB (the nodes' scrubbers and gRPC's queued messages vary); any part of the
    # process holding the object whole would take at least its 24 MB (the old manager: 32 to 58 MB).
    assert peak < size // 2, f"a get of {size} bytes allocated up to {peak} bytes at once"


def test_a_corrupt_copy_the_scrubber_finds_is_reported_and_healed(start):
    store, client = start(nodes=3)
    store.stop_node("n1")
    store.start_node(1, scrub_first_pass_after=0.0, scrub_every=0.5, scrub_interval=0.05)
    eventually(lambda: client.stats().live_nodes == 3, what="three live nodes")
    put = photos(12, seed=8)
    put_all(client, put)
    settled(store, client, put)
    photo = next(p for p in put if "n1" in client.stat(p.id).nodes)
    corrupt(store, "n1", photo.id)

    scrubber = store.nodes["n1"].proxy().child("scrubber").get()
    eventually(lambda: scrubber.status().get().corrupt >= 1, what="the scrubber finding the corrupt copy")

    settled(store, client, put)
    assert client.get(photo.id) == photo.data
    assert scrubber.status().get().unreported == 0


# -- bad input -------------------------------------------------------------------------------------------------------


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(StoreCallFailed) as failure:
        call()
    return failure.value.code


def test_bad_puts_and_gets_are_refused_with_a_clear_code_and_leave_nothing(start):
    store, client = start(nodes=3)
    kept = photos(3, seed=9)
    put_all(client, kept)
    settled(store, client, kept)

    assert code_of(lambda: client.put("big.jpg", b"x" * (MAX_OBJECT + 1))) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert code_of(lambda: client.put("empty.jpg", b"")) is grpc.StatusCode.INVALID_ARGUMENT
    for malformed in ("../escape", "a//b", ".hidden", "x" * 201, "sp ace"):
        call = client.stub.Get(store_pb2.GetRequest(id=malformed), timeout=10)
        with pytest.raises(grpc.RpcError) as failure:
            next(iter(call))
        assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT, malformed
        assert "malformed object id" in failure.value.details()
        header = store_pb2.ObjectHeader(id=malformed, size=1, sha256=hashlib.sha256(b"x").hexdigest())
        requests = [store_pb2.PutRequest(header=header), store_pb2.PutRequest(block=b"x")]
        for rpc, request in (
            (client.stub.Put, iter(requests)),
            (client.stub.Delete, store_pb2.DeleteRequest(id=malformed)),
            (client.stub.Stat, store_pb2.StatRequest(id=malformed)),
        ):
            with pytest.raises(grpc.RpcError) as failure:
                rpc(request, timeout=10)
            assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (rpc, malformed)
    with pytest.raises(ObjectMissing):
        client.get("photos/unknown.jpg")
    assert client.stat("photos/unknown.jpg") is None
    assert client.delete("photos/unknown.jpg") is False

    lying = store_pb2.PutRequest(header=store_pb2.ObjectHeader(id="lie.jpg", size=4, sha256=kept[0].sha256))
    with pytest.raises(grpc.RpcError) as failure:
        client.stub.Put(iter([lying, store_pb2.PutRequest(block=b"abcd")]), timeout=10)
    assert failure.value.code() is grpc.StatusCode.DATA_LOSS

    assert client.list() == sorted(p.id for p in kept)
    assert client.stats().objects == 3
    assert sorted(f.name for f in spool_files(store)) == []
    assert all(set(items) == {p.id for p in kept} & set(items) for items in on_disks(store).values())


def test_an_inventory_with_bad_entries_has_them_rejected_and_adopts_only_unknown_good_ones(start):
    store, client = start(nodes=3)
    kept = photos(4, seed=10)
    put_all(client, kept)
    settled(store, client, kept)
    table_before = {obj.id: obj for obj in store.table.objects()}
    found = photos(2, seed=11, prefix="found")
    hello = store_pb2.NodeHello(node="n9", address="127.0.0.1:9", disk_used=1, disk_total=100)
    items = [
        InventoryItem("../escape", 10, found[0].sha256),
        InventoryItem("a//b", 10, found[0].sha256),
        InventoryItem(kept[0].id, len(kept[0].data) + 1, kept[0].sha256),  # a wrong size
        InventoryItem("huge.jpg", MAX_OBJECT + 1, found[0].sha256),
        InventoryItem("bad-hash.jpg", 10, "not-a-sha"),
        *(InventoryItem(p.id, len(p.data), p.sha256) for p in found),
    ]

    reply = client.report_inventory(hello, items)

    rejected = sorted(reply.rejected)
    assert len(rejected) == 5 and reply.accepted == 2 and list(reply.delete) == []
    assert any(r.startswith(f"{kept[0].id}: claims size") for r in rejected)
    assert sum("malformed object id" in r for r in rejected) == 2
    assert any(r.startswith("huge.jpg: size") for r in rejected)
    assert any(r.startswith("bad-hash.jpg: malformed sha256") for r in rejected)
    table_after = {obj.id: obj for obj in store.table.objects()}
    assert {i: table_after[i] for i in table_before} == table_before, "nothing known changed"
    assert sorted(set(table_after) - set(table_before)) == [p.id for p in found]
    for photo in found:
        adopted = table_after[photo.id]
        assert (adopted.size, adopted.sha256, adopted.holders()) == (len(photo.data), photo.sha256, {"n9"})
    stats = client.stats()
    assert {n.node: n.state for n in stats.nodes}["n9"] != "live"


# -- delete and overwrite --------------------------------------------------------------------------------------------


def test_a_delete_removes_every_copy_and_a_node_away_meanwhile_deletes_its_copy_when_it_returns(start):
    store, client = start(nodes=4)
    put = photos(8, seed=12)
    put_all(client, put)
    settled(store, client, put)
    gone, away_while_deleted = put[0], put[1]
    away = client.stat(away_while_deleted.id).nodes[0]
    store.stop_node(away)
    eventually(lambda: away not in client.stat(away_while_deleted.id).nodes, what=f"{away} down")

    assert client.delete(gone.id) is True
    assert client.delete(away_while_deleted.id) is True

    kept = put[2:]
    settled(store, client, kept)
    assert away_while_deleted.id in on_stopped_disk(store, node_number(away)), "the node was away: it kept its copy"
    store.start_node(node_number(away))
    eventually(lambda: client.stats().live_nodes == 4, what=f"{away} back")
    settled(store, client, kept)
    held = on_disks(store)
    assert not any(p.id in items for items in held.values() for p in (gone, away_while_deleted))
    for photo in (gone, away_while_deleted):
        with pytest.raises(ObjectMissing):
            client.get(photo.id)
    assert client.list() == sorted(p.id for p in kept)


def test_an_overwrite_is_read_back_new_and_the_old_copies_are_replaced(start):
    store, client = start(nodes=4)
    put = photos(6, seed=13)
    put_all(client, put)
    settled(store, client, put)
    old = put[2]
    new = Photo(old.id, b"the new bytes " + old.data)

    result = client.put(new.id, new.data)

    assert result.version == 2
    assert client.get(new.id) == new.data
    now = [new if p.id == new.id else p for p in put]
    settled(store, client, now)
    assert client.get(new.id) == new.data
    assert not any(old.sha256 == sha for items in on_disks(store).values() for _, sha in items.values())


def test_an_overwrite_during_the_placement_of_the_old_bytes_leaves_only_the_new_ones(start, monkeypatch):
    store, client = start(nodes=4)
    held = HeldPuts(monkeypatch, "over/")
    old = photos(1, seed=20, prefix="over")[0]
    new = Photo(old.id, b"the new bytes " + old.data)
    client.put(old.id, old.data)
    eventually(held.arrived.is_set, what="the old bytes on their way to a primary")

    client.put(new.id, new.data)
    held.release.set()

    settled(store, client, [new])
    assert client.get(new.id) == new.data
    assert store.manager.proxy().child("placer-1").get().actor_ref.is_alive()
    assert store.manager.proxy().restarts().get() == dict.fromkeys(store.manager.proxy().children().get(), 0)


def test_a_delete_during_placement_leaves_no_copy_anywhere(start, monkeypatch):
    store, client = start(nodes=4)
    held = HeldPuts(monkeypatch, "gone/")
    photo = photos(1, seed=21, prefix="gone")[0]
    client.put(photo.id, photo.data)
    eventually(held.arrived.is_set, what="the object on its way to a primary")

    assert client.delete(photo.id) is True
    held.release.set()

    settled(store, client, [])
    assert store.manager.proxy().restarts().get() == dict.fromkeys(store.manager.proxy().children().get(), 0)


# -- a full node -----------------------------------------------------------------------------------------------------


def test_placement_goes_to_another_node_when_a_node_refuses_for_lack_of_room(start):
    store, client = start(nodes=3)
    store.stop_node("n1")
    store.start_node(1, max_object_bytes=100)  # takes only objects of up to 100 bytes
    eventually(lambda: client.stats().live_nodes == 3, what="n1 live again")
    small = photos(4, seed=14, size=(10, 100))
    large = photos(6, seed=15, prefix="large", size=(1000, 2000))

    put_all(client, small + large)

    settled(store, client, small + large)
    held = on_disks(store)
    assert all(sorted(holders(held, photo)) == ["n2", "n3"] for photo in large)
    assert not any(photo.id in held["n1"] for photo in large)


def test_placement_goes_to_another_node_when_a_node_disk_is_full(start, monkeypatch):
    store, client = start(nodes=3)
    full = store.node_dir(1).resolve()
    check_room = NodeDisk._check_room

    def no_room_on_n1(disk, header):
        if disk.root.resolve() == full:
            raise DiskFull(f"the node's disk is full ({disk.root}): cannot store {header.id}")
        return check_room(disk, header)

    monkeypatch.setattr(NodeDisk, "_check_room", no_room_on_n1)
    put = photos(10, seed=16)

    put_all(client, put)

    settled(store, client, put)
    assert on_disks(store)["n1"] == {}


# -- figures -------------------------------------------------------------------------------------------------------


def test_the_figures_are_served_to_prometheus_and_kept_in_the_table_history(start):
    store, client = start(nodes=3, metrics_listen="127.0.0.1:0", metrics_interval=0.1)
    put = photos(5, seed=17)
    put_all(client, put)
    settled(store, client, put)
    port = store.manager.proxy().child("metrics").get().metrics_port().get()

    def scraped() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            return reply.read().decode()

    text = scraped()
    assert "store_objects 5.0" in text
    assert "store_under_replicated_objects 0.0" in text
    assert "store_live_nodes 3.0" in text
    assert 'store_puts_total{result="ok"} 5.0' in text
    assert sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("store_node_objects{")) == 10
    eventually(
        lambda: any(value == 5.0 for _, _, _, value in store.table.metrics_history("store_objects")),
        what="a history row of store_objects = 5",
    )
    names = {name for _, name, _, _ in store.table.metrics_history()}
    assert {"store_objects", "store_node_bytes", "store_puts_total"} <= names
