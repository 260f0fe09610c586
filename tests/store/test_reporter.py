"""A (re)starting node reports its inventory, retrying for a bounded time, and deletes what the manager says."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest
from structlog.testing import capture_logs

from protos import store_pb2
from store import streams
from store.model import InventoryItem
from store.node.disk import NodeDisk
from store.node.reporter import (
    Backoff,
    GiveUp,
    InventoryRefused,
    ManagerUnreachable,
    Retry,
    apply_reply,
    hello_of,
    next_attempt,
    report_inventory,
    worth_retrying,
)
from store.node_client import NodeCallFailed

MAX = 4 * 1024 * 1024
BACKOFF = Backoff(initial=0.1, factor=2.0, maximum=1.0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Manager:
    """A ``send`` that fails ``failures`` times with ``error``, then answers ``reply``."""

    def __init__(self, reply: store_pb2.InventoryReply, failures: int = 0, error: Exception | None = None) -> None:
        self.reply, self.failures = reply, failures
        self.error = error or NodeCallFailed(grpc.StatusCode.UNAVAILABLE, "connection refused", address="mgr:7")
        self.calls: list[tuple[store_pb2.NodeHello, list[InventoryItem]]] = []

    def __call__(self, hello: store_pb2.NodeHello, items: list[InventoryItem]) -> store_pb2.InventoryReply:
        self.calls.append((hello, list(items)))
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            raise self.error
        return self.reply


@pytest.fixture
def disk(tmp_path: Path) -> NodeDisk:
    disk = NodeDisk(tmp_path / "node", max_size=MAX)
    for name in ("a", "b", "c"):
        data = f"photo {name}".encode()
        disk.put(streams.Header(f"photos/{name}.png", len(data), sha(data)), [data])
    return disk


# -- the retry decision, alone ------------------------------------------------------------------


def test_the_pause_grows_by_the_factor_up_to_the_maximum():
    pauses = [next_attempt(failures, 0.0, 100.0, BACKOFF) for failures in range(1, 7)]
    assert pauses == [Retry(0.1), Retry(0.2), Retry(0.4), Retry(0.8), Retry(1.0), Retry(1.0)]


def test_the_last_pause_ends_at_the_bound():
    assert next_attempt(5, 9.7, 10.0, BACKOFF) == Retry(pytest.approx(0.3))


def test_at_or_after_the_bound_it_gives_up():
    assert next_attempt(1, 10.0, 10.0, BACKOFF) == GiveUp()
    assert next_attempt(3, 12.5, 10.0, BACKOFF) == GiveUp()


def test_a_huge_number_of_failures_pauses_the_maximum():
    assert next_attempt(100_000, 0.0, 100.0, BACKOFF) == Retry(1.0)


def test_backoff_refuses_settings_that_make_no_sense():
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=2.0, maximum=1.0)
    with pytest.raises(ValueError, match="factor"):
        Backoff(factor=0.5)


def test_unreachable_managers_and_unknown_errors_are_worth_retrying_but_refusals_are_not():
    assert worth_retrying(NodeCallFailed(grpc.StatusCode.UNAVAILABLE, "down"))
    assert worth_retrying(NodeCallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "slow"))
    assert worth_retrying(ConnectionError("reset"))
    assert not worth_retrying(NodeCallFailed(grpc.StatusCode.INVALID_ARGUMENT, "malformed node id"))


# -- the report ---------------------------------------------------------------------------------


def test_the_inventory_is_sent_with_a_hello_naming_the_node_and_its_disk(disk: NodeDisk):
    manager = Manager(store_pb2.InventoryReply(accepted=3))

    reply = report_inventory(disk, "n1", "127.0.0.1:7001", manager, "mgr:7")

    assert reply.accepted == 3
    [(hello, items)] = manager.calls
    assert (hello.node, hello.address, hello.scrub) == ("n1", "127.0.0.1:7001", False)
    assert 0 < hello.disk_used <= hello.disk_total
    assert [item.id for item in items] == ["photos/a.png", "photos/b.png", "photos/c.png"]
    assert items[0] == InventoryItem("photos/a.png", 7, sha(b"photo a"))


def test_a_manager_that_fails_a_few_times_gets_the_report_after_backing_off(disk: NodeDisk):
    manager = Manager(store_pb2.InventoryReply(accepted=3), failures=3)
    time = FakeTime()

    with capture_logs() as logs:
        reply = report_inventory(
            disk, "n1", "h:1", manager, "mgr:7", give_up_after=30, backoff=BACKOFF, sleep=time.sleep, clock=time.clock
        )

    assert reply.accepted == 3
    assert len(manager.calls) == 4
    assert time.sleeps == [0.1, 0.2, 0.4]
    assert [entry["attempt"] for entry in logs if entry["event"] == "store.inventory_retry"] == [1, 2, 3]


def test_a_manager_that_never_answers_makes_it_give_up_after_the_bound_with_a_clear_message(disk: NodeDisk):
    manager = Manager(store_pb2.InventoryReply(), failures=None)
    time = FakeTime()

    with pytest.raises(ManagerUnreachable) as caught:
        report_inventory(
            disk, "n1", "h:1", manager, "mgr:7", give_up_after=3, backoff=BACKOFF, sleep=time.sleep, clock=time.clock
        )

    message = str(caught.value)
    assert message.startswith("could not reach the store manager at mgr:7 for 3.0 s: ")
    assert "connection refused" in message
    assert sum(time.sleeps) == pytest.approx(3.0)
    assert len(manager.calls) == len(time.sleeps) + 1


def test_with_a_small_real_bound_it_gives_up_without_an_injected_clock(disk: NodeDisk):
    manager = Manager(store_pb2.InventoryReply(), failures=None)

    with pytest.raises(ManagerUnreachable, match="could not reach the store manager at mgr:7"):
        report_inventory(disk, "n1", "h:1", manager, "mgr:7", give_up_after=0.2, backoff=Backoff(0.01, 2.0, 0.05))

    assert len(manager.calls) >= 2


def test_a_refusal_is_not_retried(disk: NodeDisk):
    refusal = NodeCallFailed(grpc.StatusCode.INVALID_ARGUMENT, "malformed node id 'N_1'")
    manager = Manager(store_pb2.InventoryReply(), failures=None, error=refusal)
    time = FakeTime()

    with pytest.raises(InventoryRefused, match="refused the inventory of node n1: .*malformed node id"):
        report_inventory(disk, "n1", "h:1", manager, "mgr:7", sleep=time.sleep, clock=time.clock)

    assert len(manager.calls) == 1
    assert time.sleeps == []


def test_the_copies_the_manager_lists_are_deleted_and_rejections_logged(disk: NodeDisk):
    reply = store_pb2.InventoryReply(
        accepted=2, rejected=["photos/c.png: wrong size"], delete=["photos/a.png", "photos/gone.png", "../x"]
    )
    manager = Manager(reply, failures=1)
    time = FakeTime()

    with capture_logs() as logs:
        report_inventory(disk, "n1", "h:1", manager, "mgr:7", sleep=time.sleep, clock=time.clock)

    assert disk.ids() == ["photos/b.png", "photos/c.png"]
    events = [entry["event"] for entry in logs]
    assert "store.inventory_rejected" in events
    assert "store.delete_refused" in events  # a malformed id from the manager is logged, not obeyed


def test_apply_reply_returns_the_copies_it_deleted(disk: NodeDisk):
    reply = store_pb2.InventoryReply(delete=["photos/a.png", "photos/none.png"])

    assert apply_reply(disk, reply) == ["photos/a.png"]


def test_a_scrub_hello_says_so(disk: NodeDisk):
    hello = hello_of(disk, "n1", "h:1", scrub=True)

    assert (hello.node, hello.address, hello.scrub) == ("n1", "h:1", True)
