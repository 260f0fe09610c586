"""The store manager's client against a test double of the StoreManager protocol on real gRPC.

``ManagerDouble`` keeps objects in a dict and answers as the proto's comments say (the
status codes included); it exists to check the client's framing and error mapping only.
The real manager is tested on its own.  ``tests/storage/test_replicated.py`` and
``tests/cli/test_store_commands.py`` serve it too.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
import pytest

from gateways.rpc.server import start_server, stop_server
from protos import store_pb2, store_pb2_grpc
from storage.backend import ObjectNotFound
from store import streams
from store.ids import InvalidObjectId, check_object_id
from store.manager_client import ManagerClient, ObjectMissing, ObjectStat, StoreCallFailed
from store.model import InventoryItem

MB = 1024 * 1024
SERVICE = store_pb2.DESCRIPTOR.services_by_name["StoreManager"].full_name


class ManagerDouble(store_pb2_grpc.StoreManagerServicer):
    """A dict behind the StoreManager protocol: what a put sent, what a get answers, and how it refuses."""

    def __init__(self, max_bytes: int = 64 * MB) -> None:
        self.max_bytes = max_bytes
        self.objects: dict[str, tuple[bytes, int]] = {}  # id -> (bytes, version)
        self.headers: list[streams.Header] = []  # every put's header, as received
        self.block_sizes: list[int] = []  # every put's blocks, as received
        self.inventories: list[tuple[store_pb2.NodeHello, list[store_pb2.InventoryEntry]]] = []
        self.corrupt_gets = False  # answer gets with one byte changed, under the true sha256
        self.unhashed_gets = False  # answer gets with a header that names no sha256
        self.unavailable_gets = ""  # answer gets UNAVAILABLE with this detail, as the manager does with no good copy
        self.stats = store_pb2.StoreStats()
        self.lock = threading.Lock()

    def Put(self, request_iterator, context):  # noqa: N802 - gRPC's name
        try:
            header, blocks = streams.split(request_iterator)
        except streams.StreamError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        try:
            check_object_id(header.id)
        except InvalidObjectId as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if header.size == 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{header.id}: a zero-byte object is refused")
        if header.size > self.max_bytes:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"{header.id}: {header.size} bytes, over the {self.max_bytes} limit"
            )
        self.headers.append(header)
        sink = io.BytesIO()

        def counted():
            for block in blocks:
                self.block_sizes.append(len(block))
                yield block

        try:
            digest = streams.receive(header, counted(), sink)
        except streams.StreamError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        with self.lock:
            version = self.objects.get(header.id, (b"", 0))[1] + 1
            self.objects[header.id] = (sink.getvalue(), version)
        return store_pb2.PutReply(id=header.id, size=header.size, sha256=digest, version=version)

    def _found(self, object_id: str, context) -> tuple[bytes, int]:
        with self.lock:
            found = self.objects.get(object_id)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no object {object_id}")
        return found

    def Get(self, request, context):  # noqa: N802
        data, _ = self._found(request.id, context)
        if self.unavailable_gets:
            context.abort(grpc.StatusCode.UNAVAILABLE, self.unavailable_gets)
        header = streams.Header(request.id, len(data), "" if self.unhashed_gets else streams.sha256_of(data))
        if self.corrupt_gets:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        yield from streams.framed(header, streams.blocks_of(data), message=store_pb2.GetReply)

    def Delete(self, request, context):  # noqa: N802
        with self.lock:
            return store_pb2.DeleteReply(existed=self.objects.pop(request.id, None) is not None)

    def Stat(self, request, context):  # noqa: N802
        data, version = self._found(request.id, context)
        return store_pb2.ObjectStat(
            id=request.id, size=len(data), sha256=streams.sha256_of(data), version=version, nodes=["n1", "n2"]
        )

    def List(self, request, context):  # noqa: N802
        with self.lock:
            return store_pb2.ListReply(ids=sorted(i for i in self.objects if i.startswith(request.prefix)))

    def Stats(self, request, context):  # noqa: N802
        return self.stats

    def ReportInventory(self, request_iterator, context):  # noqa: N802
        first = next(request_iterator)
        if first.WhichOneof("part") != "hello":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an inventory starts with the node's hello")
        entries = [report.entry for report in request_iterator]
        self.inventories.append((first.hello, entries))
        rejected = []
        for entry in entries:
            try:
                check_object_id(entry.id)
            except InvalidObjectId:
                rejected.append(f"{entry.id}: malformed id")
        return store_pb2.InventoryReply(accepted=len(entries) - len(rejected), rejected=rejected)


@contextmanager
def serving(double: ManagerDouble, address: str = "127.0.0.1:0") -> Iterator[str]:
    """``double`` served on ``address`` (a free port by default); yields where it listens and stops it after."""
    server, health, port = start_server(address, [(store_pb2_grpc.add_StoreManagerServicer_to_server, double, SERVICE)])
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_server(server, health, grace=0)


@contextmanager
def nobody_listening() -> Iterator[str]:
    """An address on which connections are refused: a port held bound, never listened on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def double() -> ManagerDouble:
    return ManagerDouble()


@pytest.fixture
def client(double) -> Iterator[ManagerClient]:
    with serving(double) as address, ManagerClient(address, timeout=10, transfer_timeout=60) as client:
        yield client


def test_a_put_streams_3_mb_in_blocks_with_its_sha256_and_a_get_returns_it(client, double):
    data = os.urandom(3 * MB + 17)
    moved: list[int] = []
    result = client.put("photos/big.png", data, progress=moved.append)
    digest = streams.sha256_of(data)
    assert (result.id, result.size, result.sha256, result.version) == ("photos/big.png", len(data), digest, 1)
    assert double.headers == [streams.Header("photos/big.png", len(data), digest)]
    assert double.block_sizes == [streams.BLOCK] * 3 + [17]
    assert sum(moved) == len(data)
    assert client.get("photos/big.png") == data
    assert client.put("photos/big.png", b"again").version == 2


def test_put_file_streams_the_file_and_get_to_file_writes_it_whole_and_verified(client, double, tmp_path):
    data = os.urandom(3 * MB)
    source, target = tmp_path / "in.bin", tmp_path / "out" / "copy.bin"
    source.write_bytes(data)
    target.parent.mkdir()
    sent: list[int] = []
    result = client.put_file("files/in.bin", source, progress=sent.append)
    assert result.sha256 == streams.sha256_of(data) == double.headers[0].sha256
    assert double.block_sizes == [streams.BLOCK] * 3 and sum(sent) == len(data)
    received: list[int] = []
    header = client.get_to_file("files/in.bin", target, progress=received.append)
    assert target.read_bytes() == data
    assert header == streams.Header("files/in.bin", len(data), result.sha256)
    assert sum(received) == len(data)
    assert os.listdir(target.parent) == ["copy.bin"]  # no temporary left behind


def test_a_reply_whose_bytes_do_not_match_its_sha256_is_refused(client, double, tmp_path):
    client.put("photos/a.png", b"the true bytes")
    double.corrupt_gets = True
    with pytest.raises(StoreCallFailed) as refused:
        client.get("photos/a.png")
    assert refused.value.code is grpc.StatusCode.DATA_LOSS
    assert "sha256" in str(refused.value) and "photos/a.png" in str(refused.value)
    target = tmp_path / "a.png"
    target.write_bytes(b"what was there")
    with pytest.raises(StoreCallFailed):
        client.get_to_file("photos/a.png", target)
    assert target.read_bytes() == b"what was there"
    assert os.listdir(tmp_path) == ["a.png"]


def test_a_reply_that_names_no_sha256_is_refused_as_unverifiable(client, double, tmp_path):
    client.put("photos/a.png", b"bytes")
    double.unhashed_gets = True
    with pytest.raises(StoreCallFailed, match="no usable sha256") as refused:
        client.get("photos/a.png")
    assert refused.value.code is grpc.StatusCode.DATA_LOSS
    with pytest.raises(StoreCallFailed, match="no usable sha256"):
        client.get_to_file("photos/a.png", tmp_path / "a.png")
    assert os.listdir(tmp_path) == []


def test_a_missing_object_is_object_missing_an_object_not_found(client, tmp_path):
    with pytest.raises(ObjectMissing) as missing:
        client.get("photos/none.png")
    assert isinstance(missing.value, ObjectNotFound)
    with pytest.raises(ObjectNotFound):
        client.get_to_file("photos/none.png", tmp_path / "none.png")
    assert os.listdir(tmp_path) == []
    assert client.stat("photos/none.png") is None
    assert client.delete("photos/none.png") is False


def test_an_unreachable_manager_is_a_store_call_failed_that_names_it():
    with nobody_listening() as address, ManagerClient(address, timeout=10) as client:
        with pytest.raises(StoreCallFailed) as failed:
            client.stats()
    assert failed.value.code is grpc.StatusCode.UNAVAILABLE and failed.value.unreachable
    assert isinstance(failed.value, OSError)
    message = str(failed.value)
    assert message.startswith(f"asking for the store's figures: cannot reach the store manager at {address}")
    assert message.endswith("[UNAVAILABLE]") and "\n" not in message


def test_a_client_made_once_the_manager_listens_reaches_it_whatever_an_earlier_client_found(double):
    """The embedded cluster starts its storage nodes before the manager, so their clients find nobody
    listening.  The Svc's client, made once the manager listens, must reach it on its first call.  It did
    not always: gRPC shares one connection per address between the channels of a process by default, so
    the Svc's first put failed at once with the nodes' 'Connection refused' until that connection's
    reconnect backoff (up to two seconds) ran out."""
    with nobody_listening() as address:
        early = ManagerClient(address, timeout=10)
        with pytest.raises(StoreCallFailed) as failed:
            early.stats()
        assert failed.value.unreachable
    try:
        with serving(double, address), ManagerClient(address, timeout=10) as late:
            late.put("photos/a.png", b"bytes")
            assert late.get("photos/a.png") == b"bytes"
    finally:
        early.close()


def test_an_unavailable_answer_of_the_manager_is_told_apart_from_an_unreachable_manager(client, double):
    client.put("photos/a.png", b"bytes")
    double.unavailable_gets = "no good copy of photos/a.png can be read now: try again when its nodes are back"
    with pytest.raises(StoreCallFailed) as failed:
        client.get("photos/a.png")
    assert failed.value.code is grpc.StatusCode.UNAVAILABLE and not failed.value.unreachable
    assert str(failed.value) == (
        f"getting photos/a.png: the store manager at {client.address} answered: {double.unavailable_gets} [UNAVAILABLE]"
    )


def test_a_refused_put_keeps_the_managers_status_code_and_reason(client, double):
    with pytest.raises(StoreCallFailed, match="zero-byte") as empty:
        client.put("photos/empty.png", b"")
    assert empty.value.code is grpc.StatusCode.INVALID_ARGUMENT
    double.max_bytes = 10
    with pytest.raises(StoreCallFailed, match="over the 10 limit") as big:
        client.put("photos/big.png", b"x" * 11)
    assert big.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(big.value).startswith("putting photos/big.png: the store manager at ")
    assert double.objects == {}


@pytest.mark.parametrize("bad", ["", "../x", "/abs", "a//b", "photos/.hidden", "a b", "x" * 201])
def test_a_malformed_id_is_refused_before_any_call(client, double, bad, tmp_path):
    for call in (
        lambda: client.put(bad, b"x"),
        lambda: client.get(bad),
        lambda: client.stat(bad),
        lambda: client.delete(bad),
        lambda: client.get_to_file(bad, tmp_path / "x"),
    ):
        with pytest.raises(InvalidObjectId):
            call()
    assert double.headers == []


def test_an_error_on_the_senders_side_is_raised_as_itself_not_as_a_cancelled_call(client, double):
    def broken_progress(moved: int) -> None:
        raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError, match="the progress bar broke"):
        client.put("photos/a.png", os.urandom(2 * MB), progress=broken_progress)
    assert double.objects == {}


def test_stat_list_delete_and_stats_answer_as_the_manager_replies(client, double):
    for name in ("photos/b.png", "photos/a.png", "state/pending.json"):
        client.put(name, name.encode())
    assert client.stat("photos/a.png") == ObjectStat(
        "photos/a.png", 12, streams.sha256_of(b"photos/a.png"), 1, ("n1", "n2"), False
    )
    assert client.list("photos/") == ["photos/a.png", "photos/b.png"]
    assert client.list("") == ["photos/a.png", "photos/b.png", "state/pending.json"]
    assert client.delete("photos/a.png") is True
    assert client.list("photos/") == ["photos/b.png"]
    double.stats = store_pb2.StoreStats(
        objects=2,
        bytes=30,
        under_replicated=1,
        spooled=1,
        live_nodes=1,
        note="fewer than two live nodes: puts wait in the spool",
        nodes=[store_pb2.NodeStats(node="n1", address="h:1", state="live", objects=2, bytes=30, disk_used=5)],
    )
    stats = client.stats()
    assert (stats.objects, stats.bytes, stats.under_replicated, stats.spooled, stats.live_nodes) == (2, 30, 1, 1, 1)
    assert stats.note.startswith("fewer than two live nodes")
    assert [(n.node, n.address, n.state, n.objects, n.bytes, n.disk_used) for n in stats.nodes] == [
        ("n1", "h:1", "live", 2, 30, 5)
    ]


def test_report_inventory_sends_the_hello_then_one_entry_per_item(client, double):
    hello = store_pb2.NodeHello(node="n3", address="127.0.0.1:6000", disk_used=10, disk_total=100)
    items = (InventoryItem(f"photos/{i}.png", i + 1, "0" * 64) for i in range(3))
    reply = client.report_inventory(hello, [*items, InventoryItem("../bad", 1, "0" * 64)])
    assert reply.accepted == 3 and list(reply.rejected) == ["../bad: malformed id"]
    [(seen_hello, entries)] = double.inventories
    assert seen_hello == hello
    assert [(e.id, e.size) for e in entries] == [("photos/0.png", 1), ("photos/1.png", 2), ("photos/2.png", 3)] + [
        ("../bad", 1)
    ]


def test_one_client_serves_many_threads_at_once(client):
    def round_trip(number: int) -> bool:
        data = os.urandom(200_000 + number)
        client.put(f"photos/{number}.png", data)
        return client.get(f"photos/{number}.png") == data

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, range(24)))
    assert len(client.list("photos/")) == 24
