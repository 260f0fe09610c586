"""The replicated store as processes: a manager, four storage nodes, RabbitMQ and the Spread daemon.

Each test starts its own store on the ``store_lab`` fixture (its own Spread daemon, empty replication
queues), puts objects through ``ManagerClient`` and checks both what the manager says (``Stat``,
``Stats``) and what is really on the nodes' disks, read once the store has settled.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from store.manager_client import ManagerClient, StoreCallFailed
from store.node.disk import NodeDisk
from tests.cluster.lab import ROOT, Lab, Process
from tests.polling import eventually

pytestmark = pytest.mark.integration

NODES = 4
MAX_OBJECT = 64 * 1024 * 1024
SETTLE = 90.0  # seconds the store may take to settle after a put or a fault, on a loaded two-core machine


def until_none_left(listing: Callable[[], list], what: str, timeout: float = SETTLE) -> None:
    """Polls ``listing()`` until it is empty; at the deadline the test fails showing what was still left."""
    left: list = []

    def none_left() -> bool:
        left[:] = listing()
        return not left

    try:
        eventually(none_left, timeout, what, interval=0.2)
    except pytest.fail.Exception:
        pytest.fail(f"timed out after {timeout} s waiting for {what}; {len(left)} left: {left[:5]}", pytrace=False)


@dataclass(frozen=True)
class Photo:
    id: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def photos(count: int, seed: int, prefix: str = "photos") -> list[Photo]:
    """``count`` objects of 2..20 kB of random bytes, with ids shaped like the storage layout's."""
    rng = random.Random(seed)
    return [
        Photo(f"{prefix}/{rng.getrandbits(128):032x}.png", rng.randbytes(rng.randint(2_000, 20_000)))
        for _ in range(count)
    ]


@dataclass
class Store:
    """A store manager and its nodes, started on a lab, with a client of the manager."""

    lab: Lab
    manager: Process
    nodes: dict[int, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = ManagerClient(self.manager.address, timeout=10)

    def start_nodes(self, numbers: Iterable[int], *extra: str) -> None:
        """Starts the nodes at once, waits for each to serve, then for the manager to count them live."""
        started = {n: self.lab.start_store_node(n, self.manager.address, *extra, wait=False) for n in numbers}
        for number, process in started.items():
            self.lab.wait_serving(process, f"store node {number}")
        self.nodes.update(started)
        eventually(lambda: self.live() >= set(started), SETTLE, f"nodes {sorted(started)} to be live", interval=0.1)

    def restart_manager(self) -> None:
        """The manager again, on the same listen address, spool and table."""
        self.manager = self.lab.start_store_manager(listen=self.manager.address)

    def live(self) -> set[int]:
        return {int(n.node[1:]) for n in self.client.stats().nodes if n.state == "live"}

    def put_all(self, objects: Iterable[Photo]) -> None:
        for photo in objects:
            assert self.client.put(photo.id, photo.data).sha256 == photo.sha256

    def misplaced(self, objects: Iterable[Photo], live: set[int]) -> list[str]:
        """The ids of ``objects`` not on exactly two of the ``live`` nodes by the manager's account, or still
        waiting in its spool."""
        names = {f"n{n}" for n in live}
        wrong = []
        for photo in objects:
            stat = self.client.stat(photo.id)
            if stat is None or stat.sha256 != photo.sha256 or stat.spooled:
                wrong.append(photo.id)
            elif len(stat.nodes) != 2 or len(set(stat.nodes)) != 2 or not set(stat.nodes) <= names:
                wrong.append(photo.id)
        return wrong

    def wait_placed(self, objects: list[Photo], what: str, live: set[int] | None = None) -> None:
        live = set(range(1, NODES + 1)) if live is None else live
        until_none_left(lambda: self.misplaced(objects, live), what)

    def on_disk(self, numbers: Iterable[int]) -> dict[str, dict[int, str]]:
        """What the nodes' directories hold: id -> {node number: sha256 of the copy's bytes}, each copy's bytes
        also checked against the sha256 its node recorded when it arrived (read only: nothing is swept)."""
        held: dict[str, dict[int, str]] = {}
        for number in numbers:
            disk = NodeDisk(self.lab.store_node_dir(number), MAX_OBJECT, sweep=False)
            for object_id in disk.ids():
                _, actual = disk.rehash(object_id)
                assert disk.recorded(object_id) == actual, f"{object_id} on n{number}: its record is not its bytes"
                held.setdefault(object_id, {})[number] = actual
        return held

    def assert_two_good_copies_on_disk(self, objects: list[Photo], numbers: Iterable[int]) -> dict[str, set[int]]:
        """Every object on exactly two of the nodes ``numbers``, both copies with its hash, the nodes the
        manager names; nothing else on those disks.  Returns id -> the nodes holding it."""
        held = self.on_disk(numbers)
        assert sorted(held) == sorted(p.id for p in objects)
        for photo in objects:
            copies = held[photo.id]
            assert len(copies) == 2, (photo.id, copies)
            assert set(copies.values()) == {photo.sha256}, (photo.id, copies)
            assert {f"n{n}" for n in copies} == set(self.client.stat(photo.id).nodes), photo.id
        return {object_id: set(copies) for object_id, copies in held.items()}


def start_store(lab: Lab, *node_args: str, manager_args: tuple[str, ...] = ()) -> Store:
    """A manager (started with ``manager_args``) and four nodes (each with ``node_args``), every node live."""
    store = Store(lab, lab.start_store_manager(*manager_args))
    store.start_nodes(range(1, NODES + 1), *node_args)
    return store


@pytest.fixture
def store(store_lab):
    store = start_store(store_lab)
    yield store
    store.client.close()


def spooled_files(lab: Lab) -> list[str]:
    return sorted(p.name for p in lab.store_spool().rglob("*") if p.is_file())


def corrupt(path: Path) -> None:
    """Flips bytes in the middle of the file, in place (same inode, so its record still claims it)."""
    with open(path, "r+b") as file:
        file.seek(len(path.read_bytes()) // 2)
        chunk = file.read(16)
        file.seek(-len(chunk), 1)
        file.write(bytes(b ^ 0xFF for b in chunk))


def node_number(name: str) -> int:
    return int(name.removeprefix("n"))


# -- placement ----------------------------------------------------------------------------------


def test_every_object_put_ends_on_exactly_two_distinct_nodes_with_its_hash(store):
    objects = photos(200, seed=1)
    store.put_all(objects)

    store.wait_placed(objects, "every object on two live nodes")

    held = store.assert_two_good_copies_on_disk(objects, range(1, NODES + 1))
    assert {n for nodes in held.values() for n in nodes} == set(range(1, NODES + 1))  # every node takes copies
    for photo in objects:
        assert store.client.get(photo.id) == photo.data
    stats = store.client.stats()
    assert (stats.objects, stats.under_replicated, stats.spooled, stats.live_nodes) == (200, 0, 0, NODES)
    assert spooled_files(store.lab) == []  # two nodes hold each object: the manager let its spool copies go


# -- a node killed, and back --------------------------------------------------------------------


class Traffic:
    """Clients in threads: one puts new objects, two read objects already answered; each failure is kept."""

    def __init__(self, address: str, readable: list[Photo], seed: int) -> None:
        self.client = ManagerClient(address, timeout=30, transfer_timeout=30)  # a hung call counts as a failure
        self.readable = list(readable)
        self.new = photos(10_000, seed=seed, prefix="traffic")
        self.put_count = 0
        self.gets = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._put, name="traffic-put", daemon=True),
            *(threading.Thread(target=self._get, args=(n,), name=f"traffic-get-{n}", daemon=True) for n in (1, 2)),
        ]

    def start(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)
        self.client.close()

    def put(self) -> list[Photo]:
        """The objects put and answered so far."""
        with self.lock:
            return self.new[: self.put_count]

    def counts(self) -> tuple[int, int]:
        """Puts answered, gets made."""
        with self.lock:
            return self.put_count, self.gets

    def reached(self, puts: int, gets: int) -> bool:
        answered, made = self.counts()
        return answered >= puts and made >= gets

    def _put(self) -> None:
        # Paced (a put every 50 ms), so the store has placements to make all along, not a flood.
        while not self.stopping.wait(0.05):
            photo = self.new[self.put_count]
            try:
                ok = self.client.put(photo.id, photo.data).sha256 == photo.sha256
            except Exception as error:  # noqa: BLE001 - every failure is counted, none ends the thread
                ok, why = False, repr(error)
            else:
                why = "answered with another sha256"
            with self.lock:
                if ok:
                    self.put_count += 1
                    self.readable.append(photo)
                else:
                    self.failures.append(f"put {photo.id}: {why}")

    def _get(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stopping.wait(0.005):
            with self.lock:
                photo = rng.choice(self.readable)
            try:
                ok, why = self.client.get(photo.id) == photo.data, "other bytes"
            except Exception as error:  # noqa: BLE001 - every failure is counted, none ends the thread
                ok, why = False, repr(error)
            with self.lock:
                self.gets += 1
                if not ok:
                    self.failures.append(f"get {photo.id}: {why}")


def test_a_node_killed_under_puts_and_gets_has_its_objects_re_protected_then_returns_without_surplus(store):
    first = photos(100, seed=2)
    store.put_all(first)
    store.wait_placed(first, "the first objects placed")
    on_n1 = {object_id for object_id, nodes in store.on_disk([1, 2, 3, 4]).items() if 1 in nodes}
    assert on_n1

    traffic = Traffic(store.manager.address, first, seed=20).start()
    try:
        eventually(lambda: traffic.reached(5, 5), SETTLE, "puts and gets to flow")
        store.lab.kill(store.nodes[1], signal.SIGKILL)
        eventually(lambda: store.live() == {2, 3, 4}, SETTLE, "the manager to see n1 gone", interval=0.1)
        puts_then, gets_then = traffic.counts()
        eventually(
            lambda: traffic.reached(puts_then + 10, gets_then + 20),
            SETTLE,
            "puts and gets answered while n1 is down",
        )
        until_none_left(
            lambda: store.misplaced(first + traffic.put(), {2, 3, 4}), "every object on two live nodes again"
        )
    finally:
        traffic.stop()
    assert traffic.failures == [], traffic.failures[:10]
    everything = first + traffic.put()
    store.wait_placed(everything, "the last puts placed on the live nodes", live={2, 3, 4})
    held = store.on_disk([2, 3, 4])
    assert all(len(held[p.id]) == 2 for p in everything)  # two copies on the live nodes' disks

    store.start_nodes([1])  # back with its disk: its inventory is reconciled

    store.wait_placed(everything, "every object on exactly two nodes again")
    held = store.assert_two_good_copies_on_disk(everything, range(1, NODES + 1))
    back_on_n1 = {object_id for object_id, nodes in held.items() if 1 in nodes}
    assert on_n1 <= back_on_n1  # the returning copies stay, the ones made while n1 was away go
    for photo in everything:
        assert store.client.get(photo.id) == photo.data


# -- the manager killed -------------------------------------------------------------------------


def test_a_manager_killed_during_placement_places_everything_after_its_restart(store_lab):
    # One placer against six clients putting at once: the spool fills faster than placement empties it.
    store = start_store(store_lab, manager_args=("--placers", "1"))
    objects = photos(300, seed=3)
    answered: list[Photo] = []
    unanswered: list[Photo] = []
    lock = threading.Lock()
    killed = threading.Event()

    def put(batch: list[Photo]) -> None:
        with ManagerClient(store.manager.address, timeout=10) as client:
            for photo in batch:
                if killed.is_set():
                    with lock:
                        unanswered.append(photo)
                    continue
                try:
                    client.put(photo.id, photo.data)
                except StoreCallFailed:
                    with lock:
                        unanswered.append(photo)
                    continue
                with lock:
                    answered.append(photo)

    putters = [threading.Thread(target=put, args=(objects[n::6],), daemon=True) for n in range(6)]
    for thread in putters:
        thread.start()
    eventually(
        lambda: store.client.stats().spooled >= 20 or not any(thread.is_alive() for thread in putters),
        SETTLE,
        "objects waiting in the spool",
        interval=0.05,
    )
    store.lab.kill(store.manager, signal.SIGKILL)
    killed.set()
    for thread in putters:
        thread.join(60)
    assert spooled_files(store.lab)  # killed in the middle of placement: objects only the spool holds
    assert answered

    store.restart_manager()
    with ManagerClient(store.manager.address, timeout=10) as client:
        for photo in unanswered:  # a put that was not answered is the client's to make again
            client.put(photo.id, photo.data)

    store.wait_placed(objects, "every object placed after the restart")
    store.assert_two_good_copies_on_disk(objects, range(1, NODES + 1))
    stats = store.client.stats()
    assert (stats.objects, stats.under_replicated, stats.spooled) == (300, 0, 0)
    store.client.close()


# -- corrupt copies -------------------------------------------------------------------------------


def test_a_copy_corrupted_on_disk_is_never_served_and_a_good_copy_replaces_it(store):
    objects = photos(20, seed=4)
    store.put_all(objects)
    store.wait_placed(objects, "every object placed")
    victim = objects[7]
    primary = node_number(store.client.stat(victim.id).nodes[0])
    corrupt(store.lab.store_node_dir(primary) / "objects" / victim.id)

    assert store.client.get(victim.id) == victim.data  # read from the other copy, the bad one found

    store.wait_placed(objects, "a second good copy made again")
    store.assert_two_good_copies_on_disk(objects, range(1, NODES + 1))
    assert store.client.get(victim.id) == victim.data


def test_the_scrubber_finds_a_copy_corrupted_on_disk_and_it_is_replaced(store_lab):
    store = start_store(store_lab, "--scrub-first-pass-after", "0", "--scrub-every", "1", "--scrub-mb-per-s", "64")
    objects = photos(20, seed=5)
    store.put_all(objects)
    store.wait_placed(objects, "every object placed")
    victim = objects[3]
    holder = node_number(store.client.stat(victim.id).nodes[1])
    path = store.lab.store_node_dir(holder) / "objects" / victim.id
    corrupt(path)

    def healed() -> bool:  # nobody reads it: only the scrubber can find it
        return (not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() == victim.sha256) and not (
            store.misplaced(objects, set(range(1, NODES + 1)))
        )

    eventually(healed, SETTLE, "the corrupt copy found by the scrubber and replaced", interval=0.2)
    store.assert_two_good_copies_on_disk(objects, range(1, NODES + 1))
    metrics = urllib.request.urlopen(f"http://{store.manager.metrics}/metrics", timeout=10).read().decode()
    assert "store_corrupt_copies_total 1.0" in metrics.splitlines()
    store.client.close()


# -- a node that cannot reach its manager ---------------------------------------------------------


@pytest.mark.parametrize("manager_is", ["not listening", "listening, never answering"])
def test_a_node_that_cannot_reach_its_manager_gives_up_with_a_clear_message(store_lab, manager_is):
    with socket.socket() as manager_socket:
        manager_socket.bind(("127.0.0.1", 0))
        if manager_is != "not listening":
            manager_socket.listen(8)  # connections are queued, never accepted: no HTTP/2 ever comes
        manager = f"127.0.0.1:{manager_socket.getsockname()[1]}"
        node = store_lab.start_store_node(1, manager, "--give-up-after", "2", wait=False, stderr_apart=True)

        eventually(lambda: not node.alive(), SETTLE, "the node to give up and exit", interval=0.1)

    assert node.popen.returncode != 0
    stderr = node.stderr.read_text()
    assert "could not reach the store manager" in stderr and manager in stderr, stderr


# -- figures --------------------------------------------------------------------------------------


def test_store_stats_and_the_metrics_endpoint_show_the_objects_and_the_four_nodes(store):
    objects = photos(30, seed=6)
    store.put_all(objects)
    store.wait_placed(objects, "every object placed")

    shown = subprocess.run(
        [sys.executable, "-m", "cli.main", "store", "stats", "--manager", store.manager.address, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert shown.returncode == 0, shown.stderr
    figures = json.loads(shown.stdout)
    assert (figures["objects"], figures["under_replicated"], figures["spooled"], figures["live_nodes"]) == (
        30,
        0,
        0,
        NODES,
    )
    assert figures["bytes"] == sum(len(p.data) for p in objects)
    nodes = {n["node"]: n for n in figures["nodes"]}
    assert sorted(nodes) == [f"n{n}" for n in range(1, NODES + 1)]
    assert {n["state"] for n in nodes.values()} == {"live"}
    assert sum(n["objects"] for n in nodes.values()) == 60
    assert all(n["disk_total"] > 0 for n in nodes.values())
    metrics = urllib.request.urlopen(f"http://{store.manager.metrics}/metrics", timeout=10).read().decode()
    lines = metrics.splitlines()
    assert "store_objects 30.0" in lines
    assert "store_live_nodes 4.0" in lines
    assert sum(float(line.split()[-1]) for line in lines if line.startswith("store_node_objects{")) == 60
