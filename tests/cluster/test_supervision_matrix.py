"""Crash every actor of every role while uploads are in flight: nothing is lost, nothing comes back.

The embedded cluster (2 Svcs, 2 workers, the Spread-compatible daemon in-process, the in-memory
broker, real Tesseract) takes uploads from several clients; once some are answered, one child
actor of one role's supervisor crashes (an exception in a told message, as a bug would).  At the
end, whatever crashed:

* every answered upload is READY, with the right counts;
* every Svc's replica of the pending list is the same, and holds no finished work (it is empty);
* exactly one Svc leads;
* the Register hands out only live Svcs, and both of them.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import grpc
import pykka
import pytest

from actorkit.messaging import tell_call
from actors.leader import LeaderSettings
from cli.roles.config import RegisterConfig, SvcConfig
from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig
from gateways.rpc.client import STATE_NAMES, PhotoClient, RegisterClient
from tests.cluster.photos import page_with
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Every child of each role's supervisor (cli/roles/specs.py), crashed in turn: the Svc's in the
# leading Svc (svc-1), and the replica also in the other one; and the gateways the embedded
# cluster shares between its roles (the in-process Spread daemon, the in-memory broker, whose
# queued jobs die with it: the leader publishes them again).
MATRIX = [
    *[("register", child) for child in ("group", "directory", "server", "membership")],
    *[
        ("svc-1", child)
        for child in (
            "storage",
            "group",
            "notifier",
            "pending",
            "leader",
            "uploader",
            "server",
            "membership",
            "announcer",
        )
    ],
    ("svc-2", "pending"),
    *[("worker-1", child) for child in ("storage", "group", "marker-1")],
    ("cluster", "hub"),
    ("cluster", "broker"),
]
UPLOADS = 8
CRASH_AFTER = 3  # answered uploads before the crash
KEYWORD = "harbour"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cluster(tmp_path: Path):
    config = EmbeddedConfig(
        data_dir=tmp_path / "data",
        register=RegisterConfig(listen=f"127.0.0.1:{free_port()}"),  # the same address after a restart
        svc=SvcConfig(
            listen="127.0.0.1:0",
            announce_interval=0.3,
            leader=LeaderSettings(retry_after=5.0, max_attempts=10, tick=0.2),
        ),
        svcs=2,
        workers=2,
    )
    cluster = EmbeddedCluster(config).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def svc_addresses(cluster: EmbeddedCluster) -> list[str]:
    return cluster.svc_addresses()


def pending_of(address: str):
    client = PhotoClient(address, timeout=5)
    try:
        return client.pending()
    except grpc.RpcError:
        return None
    finally:
        client.close()


def unsettled(cluster: EmbeddedCluster) -> str:
    """What keeps the cluster from having settled ("" once both Svcs answer with synced, equal, empty
    replicas, exactly one of them leads, and the Register lists exactly them)."""
    try:
        addresses = svc_addresses(cluster)
    except Exception as error:  # noqa: BLE001 - a role down for a restart
        return f"a Svc is not up: {error!r}"
    replies = [pending_of(address) for address in addresses]
    if any(reply is None for reply in replies):
        return "a Svc does not answer Pending"
    if not all(reply.synced for reply in replies):
        return "a replica is not synced"
    if any(reply.entries for reply in replies):
        return f"replicas hold entries: {[[(e.id[:8], e.status, e.reason) for e in r.entries] for r in replies]}"
    if sum(reply.leader for reply in replies) != 1:
        return f"{sum(reply.leader for reply in replies)} Svcs lead"
    register = RegisterClient(cluster.register_address, timeout=5)
    try:
        listed = {f"{svc.address.ip}:{svc.address.port}" for svc in register.list_svcs()}
    except grpc.RpcError as error:
        return f"the Register does not answer: {error.code()}"
    finally:
        register.close()
    return "" if listed == set(addresses) else f"the Register lists {sorted(listed)}, the Svcs are {addresses}"


def wait_settled(cluster: EmbeddedCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while why := unsettled(cluster):
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster did not settle within {timeout} s: {why}")
        time.sleep(0.05)


def upload_until_answered(register_address: str, data: bytes, stop: threading.Event) -> str | None:
    """Upload through whichever Svc the Register hands out, again after an error, as a client would."""
    while not stop.is_set():
        try:
            client = PhotoClient.via_register(register_address, wait=10, timeout=30)
        except grpc.RpcError:
            continue
        try:
            return client.upload(data, [KEYWORD], filename="page.png")
        except grpc.RpcError:
            continue
        finally:
            client.close()
    return None


def status_of(cluster: EmbeddedCluster, photo_id: str):
    for address in svc_addresses(cluster):
        client = PhotoClient(address, timeout=10)
        try:
            return client.status(photo_id, wait_ms=1000)
        except grpc.RpcError:
            continue
        finally:
            client.close()
    return None


def supervisor_of(cluster: EmbeddedCluster, role: str) -> pykka.ActorProxy:
    return cluster.supervisor.proxy() if role == "cluster" else cluster.role(role)


def crash(cluster: EmbeddedCluster, role: str, child: str) -> pykka.ActorRef:
    target = supervisor_of(cluster, role).child(child).get(timeout=10)
    assert tell_call(target, "no_such_message"), f"{role}/{child} was not running"
    return target.actor_ref


@pytest.mark.parametrize(("role", "child"), MATRIX, ids=[f"{role}-{child}" for role, child in MATRIX])
def test_a_crashed_actor_loses_and_resurrects_nothing(cluster, role, child):
    wait_settled(cluster, timeout=30)
    pages = [
        (page_with(KEYWORD, count, seed=n, lines=3), count)
        for n, count in enumerate([1, 2, 3, 1, 2, 3, 1, 2][:UPLOADS])
    ]
    answered: dict[str, int] = {}
    lock, stop = threading.Lock(), threading.Event()

    def client(data: bytes, count: int) -> None:
        photo_id = upload_until_answered(cluster.register_address, data, stop)
        if photo_id:
            with lock:
                answered[photo_id] = count

    threads = [threading.Thread(target=client, args=page, daemon=True) for page in pages]
    for thread in threads:
        thread.start()
    eventually(lambda: len(answered) >= CRASH_AFTER, timeout=60, what=f"{CRASH_AFTER} answered uploads")

    crashed = crash(cluster, role, child)

    eventually(lambda: not crashed.is_alive(), what=f"{role}/{child} to crash")
    eventually(
        lambda: supervisor_of(cluster, role).restarts().get().get(child, 0) >= 1,
        timeout=30,
        what=f"{role}/{child} to be restarted",
    )
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    assert len(answered) == UPLOADS, "every client got its upload answered in the end"
    for photo_id, count in answered.items():
        reply = eventually(
            lambda photo_id=photo_id: (
                (r := status_of(cluster, photo_id)) is not None and STATE_NAMES[r.state] == "READY" and r
            ),
            timeout=90,
            what=f"{photo_id} READY",
        )
        assert [(c.keyword, c.count) for c in reply.counts] == [(KEYWORD, count)], photo_id
    wait_settled(cluster, timeout=60)
    assert not cluster.escalated.is_set(), cluster.reason


def test_a_role_that_gives_up_is_reported_by_name_and_the_others_keep_running(cluster):
    wait_settled(cluster, timeout=30)
    svc_before = cluster.role("svc-1").actor_ref

    def crash_worker_group() -> bool:
        """Crashes worker-1's group connection whenever it is up; True once the cluster reports a give-up."""
        if cluster.escalated.is_set():
            return True
        try:
            target = cluster.role("worker-1").child("group").get(timeout=5)
        except (pykka.ActorDeadError, pykka.Timeout):
            return False  # down for a restart (or gone)
        if tell_call(target, "no_such_message"):
            eventually(lambda: not target.actor_ref.is_alive(), what="the crash")
        return False

    # More crashes than worker-1's supervisor allows within its window.
    eventually(crash_worker_group, timeout=60, interval=0.05, what="worker-1 to give up")
    eventually(lambda: cluster.escalated.is_set(), timeout=60, what="the cluster to report a role gave up")
    assert cluster.reason.startswith("the worker-1 role gave up: "), cluster.reason
    assert "'group'" in cluster.reason
    assert cluster.role("svc-1").actor_ref == svc_before  # one for one: the Svc was never restarted
