"""A storage node's gRPC service, on real in-process servers, called through NodeClient."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from gateways.rpc.server import start_server, stop_server
from protos import store_pb2, store_pb2_grpc
from store import streams
from store.model import InventoryItem
from store.node.disk import NodeDisk
from store.node.service import SERVICE_NAME, StoreNodeService
from store.node_client import NodeCallFailed, NodeClient, NodeUsage

MAX = 8 * 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corrupt(path: Path) -> None:
    with open(path, "r+b") as file:
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))


def temporaries(root: Path) -> list[Path]:
    return [path for path in root.rglob("*.part") if path.is_file()]


@dataclass
class Node:
    name: str
    disk: NodeDisk
    address: str
    client: NodeClient


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator:
    started = []

    def start(name: str) -> Node:
        disk = NodeDisk(tmp_path / name, max_size=MAX)
        service = StoreNodeService(disk, name, copy_timeout=10)
        server, health, port = start_server(
            "127.0.0.1:0", [(store_pb2_grpc.add_StoreNodeServicer_to_server, service, SERVICE_NAME)]
        )
        client = NodeClient(f"127.0.0.1:{port}", timeout=10)
        started.append((server, health, service, client))
        return Node(name, disk, f"127.0.0.1:{port}", client)

    yield start
    for server, health, service, client in reversed(started):
        client.close()
        service.close()
        stop_server(server, health, grace=0.5)


@pytest.fixture
def node(start_node) -> Node:
    return start_node("n1")


def dead_address() -> str:
    """An address nothing listens on: a port the kernel handed out, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def refused(call) -> NodeCallFailed:
    with pytest.raises(NodeCallFailed) as caught:
        call()
    return caught.value


def test_put_get_delete_round_trip(node: Node):
    data = b"a small photo"

    stored = node.client.put("photos/a.png", data, sha(data))

    assert (stored.id, stored.size, stored.sha256) == ("photos/a.png", len(data), sha(data))
    assert node.client.get("photos/a.png") == data
    assert node.client.get("photos/a.png", expect_sha256=sha(data)) == data
    assert node.client.delete("photos/a.png") is True
    assert node.client.delete("photos/a.png") is False
    assert refused(lambda: node.client.get("photos/a.png")).code is grpc.StatusCode.NOT_FOUND


def test_a_five_megabyte_object_is_streamed_both_ways_in_blocks(node: Node, tmp_path: Path):
    data = os.urandom(5 * 1024 * 1024)
    source = tmp_path / "source.bin"
    source.write_bytes(data)

    node.client.put_file("photos/big.png", source, len(data), sha(data))

    replies = list(node.client.stub.Get(store_pb2.GetRequest(id="photos/big.png"), timeout=10))
    assert replies[0].header == store_pb2.ObjectHeader(id="photos/big.png", size=len(data), sha256=sha(data))
    blocks = [reply.block for reply in replies[1:]]
    assert len(blocks) == 5 and all(len(block) <= streams.BLOCK for block in blocks)
    assert node.client.get("photos/big.png", expect_sha256=sha(data)) == data


def test_get_into_writes_the_object_verified(node: Node, tmp_path: Path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    node.client.put("a", data, sha(data))

    with open(tmp_path / "copy", "wb") as into:
        header = node.client.get_into("a", into, expect_sha256=sha(data))

    assert header == streams.Header("a", len(data), sha(data))
    assert (tmp_path / "copy").read_bytes() == data


def test_a_put_with_the_wrong_hash_is_refused_with_data_loss_and_nothing_becomes_visible(node: Node):
    failure = refused(lambda: node.client.put("photos/a.png", b"the bytes", sha(b"other bytes")))

    assert failure.code is grpc.StatusCode.DATA_LOSS
    assert "sha256" in failure.detail and "photos/a.png" in failure.detail
    assert not failure.unreachable
    assert refused(lambda: node.client.get("photos/a.png")).code is grpc.StatusCode.NOT_FOUND
    assert node.client.inventory() == []
    assert temporaries(node.disk.root) == []


def test_a_put_with_fewer_bytes_than_announced_is_refused_with_data_loss(node: Node, tmp_path: Path):
    source = tmp_path / "short"
    source.write_bytes(b"nine byte")

    failure = refused(lambda: node.client.put_file("a", source, 10, sha(b"ten bytes!")))

    assert failure.code is grpc.StatusCode.DATA_LOSS
    assert "9 bytes arrived, 10 were announced" in failure.detail
    assert node.disk.ids() == []
    assert temporaries(node.disk.root) == []


def test_a_put_with_more_bytes_than_announced_is_refused_with_data_loss(node: Node):
    header = streams.Header("a", 5, sha(b"12345"))

    failure = refused(lambda: node.client.put_stream(header, [b"123456"]))

    assert failure.code is grpc.StatusCode.DATA_LOSS
    assert "more than the 5 bytes announced" in failure.detail
    assert node.disk.ids() == []


@pytest.mark.parametrize("size", [0, MAX + 1])
def test_a_size_outside_the_limits_is_refused_as_invalid(node: Node, size: int):
    header = streams.Header("a", size, sha(b""))

    failure = refused(lambda: node.client.put_stream(header, []))

    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert f"1..{MAX} bytes" in failure.detail


def test_a_put_without_a_sha256_is_refused_as_invalid(node: Node):
    failure = refused(lambda: node.client.put("a", b"abc", ""))

    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed sha256" in failure.detail


def test_a_put_stream_that_does_not_start_with_a_header_is_refused_as_invalid(node: Node):
    with pytest.raises(grpc.RpcError) as caught:
        node.client.stub.Put(iter([store_pb2.PutRequest(block=b"abc")]), timeout=10)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "starts with its header" in caught.value.details()


@pytest.mark.parametrize("object_id", ["../x", ".hidden", "a//b", "x" * 300], ids=["dotdot", "hidden", "empty", "long"])
def test_a_malformed_id_is_refused_as_invalid_by_every_call(node: Node, object_id: str):
    calls = {
        "put": lambda: node.client.put(object_id, b"abc", sha(b"abc")),
        "get": lambda: node.client.get(object_id),
        "delete": lambda: node.client.delete(object_id),
        "copy_to": lambda: node.client.copy_to(object_id, node.address, sha(b"abc")),
    }
    for name, call in calls.items():
        failure = refused(call)
        assert failure.code is grpc.StatusCode.INVALID_ARGUMENT, name
        assert "malformed object id" in failure.detail, name
    assert node.client.inventory() == []
    assert list(node.disk.root.parent.iterdir()) == [node.disk.root]


def test_copy_to_streams_the_object_to_another_node(start_node):
    source, target = start_node("n1"), start_node("n2")
    data = os.urandom(2 * 1024 * 1024 + 3)
    source.client.put("photos/a.png", data, sha(data))

    assert source.client.copy_to("photos/a.png", target.address, sha(data)) == len(data)

    assert target.client.get("photos/a.png", expect_sha256=sha(data)) == data
    assert target.disk.recorded("photos/a.png") == sha(data)


def test_copy_to_from_a_corrupt_copy_is_refused_by_the_target_with_data_loss(start_node):
    source, target = start_node("n1"), start_node("n2")
    data = b"the good bytes" * 1000
    source.client.put("photos/a.png", data, sha(data))
    corrupt(source.disk.path("photos/a.png"))

    failure = refused(lambda: source.client.copy_to("photos/a.png", target.address, sha(data)))

    assert failure.code is grpc.StatusCode.DATA_LOSS
    assert failure.at_target and not failure.unreachable
    assert "looks corrupt" in failure.detail
    assert target.disk.ids() == []
    assert temporaries(target.disk.root) == []


def test_copy_to_an_address_nothing_listens_on_fails_as_unavailable_without_blaming_the_source(node: Node):
    data = b"bytes"
    node.client.put("a", data, sha(data))
    address = dead_address()

    failure = refused(lambda: node.client.copy_to("a", address, sha(data)))

    assert failure.code is grpc.StatusCode.UNAVAILABLE
    assert failure.target_unreachable and not failure.unreachable
    assert "cannot reach the target node" in failure.detail


def test_copy_to_of_an_object_the_node_lacks_is_not_found(start_node):
    source, target = start_node("n1"), start_node("n2")

    failure = refused(lambda: source.client.copy_to("a", target.address, sha(b"x")))

    assert failure.code is grpc.StatusCode.NOT_FOUND
    assert not failure.at_target


def test_calls_to_a_node_that_is_not_there_are_unreachable():
    with NodeClient(dead_address(), timeout=5) as client:
        failure = refused(client.usage)
        assert failure.code is grpc.StatusCode.UNAVAILABLE
        assert failure.unreachable
        assert refused(lambda: client.put("a", b"x", sha(b"x"))).unreachable


def test_concurrent_puts_of_different_ids_from_eight_threads_all_land(node: Node):
    errors: list[BaseException] = []
    objects = {f"photos/{thread}-{n}.png": os.urandom(50_000 + n) for thread in range(8) for n in range(10)}

    def put_share(thread: int) -> None:
        try:
            for object_id, data in objects.items():
                if object_id.startswith(f"photos/{thread}-"):
                    node.client.put(object_id, data, sha(data))
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=put_share, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(node.client.inventory(), key=lambda item: item.id) == sorted(
        (InventoryItem(object_id, len(data), sha(data)) for object_id, data in objects.items()),
        key=lambda item: item.id,
    )
    assert temporaries(node.disk.root) == []


def test_inventory_after_a_corruption_reports_the_real_hash(node: Node):
    node.client.put("photos/a.png", b"good a", sha(b"good a"))
    node.client.put("photos/b.png", b"good b", sha(b"good b"))
    corrupt(node.disk.path("photos/b.png"))

    assert node.client.inventory() == [
        InventoryItem("photos/a.png", 6, sha(b"good a")),
        InventoryItem("photos/b.png", 6, sha(node.disk.path("photos/b.png").read_bytes())),
    ]


def test_a_get_of_a_corrupt_copy_fails_with_data_loss_at_the_reader(node: Node):
    node.client.put("a", b"good bytes", sha(b"good bytes"))
    corrupt(node.disk.path("a"))

    failure = refused(lambda: node.client.get("a"))

    assert failure.code is grpc.StatusCode.DATA_LOSS
    assert not failure.unreachable


def test_usage_reports_the_node_its_objects_and_its_disk(node: Node):
    node.client.put("a", b"x" * 1000, sha(b"x" * 1000))
    node.client.put("b/c", b"y" * 234, sha(b"y" * 234))

    usage = node.client.usage()

    assert isinstance(usage, NodeUsage)
    assert (usage.node, usage.objects, usage.bytes) == ("n1", 2, 1234)
    assert 0 < usage.disk_used <= usage.disk_total


def test_a_put_to_a_full_disk_is_refused_as_resource_exhausted(node: Node, monkeypatch):
    real = os.statvfs(node.disk.objects)
    full = os.statvfs_result((real.f_bsize, 4096, real.f_blocks, 0, 0, *tuple(real)[5:]))
    monkeypatch.setattr(os, "statvfs", lambda path: full)

    failure = refused(lambda: node.client.put("a", b"bytes", sha(b"bytes")))

    assert failure.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "disk is full" in failure.detail
    assert node.disk.ids() == []


def test_an_id_that_collides_with_a_held_object_is_refused(node: Node):
    node.client.put("a", b"bytes", sha(b"bytes"))

    failure = refused(lambda: node.client.put("a/b", b"bytes", sha(b"bytes")))

    assert failure.code is grpc.StatusCode.ALREADY_EXISTS
    assert node.client.get("a") == b"bytes"
