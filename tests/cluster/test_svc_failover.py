"""Five Svcs on Spread: the leader dies, a newcomer gets the list, all restart from the checkpoint."""

from __future__ import annotations

import json
import signal
import threading
import time

import grpc
import pytest

from gateways.rpc.client import STATE_NAMES, PhotoClient, RegisterClient
from protos import photos_pb2
from storage import layout
from tests.cluster.photos import page_with
from tests.polling import eventually as until

pytestmark = pytest.mark.integration


def pending_of(svc) -> photos_pb2.PendingReply:
    client = PhotoClient(svc.address, timeout=10)
    try:
        return client.pending()
    finally:
        client.close()


def ids(reply) -> set[str]:
    return {entry.id for entry in reply.entries}


def checkpointed(storage_dir) -> set[str]:
    """The ids in the leader's last checkpoint of the pending list (none before the first)."""
    try:
        saved = json.loads((storage_dir / layout.PENDING_STATE).read_bytes())
    except (OSError, ValueError):  # not written yet
        return set()
    return {entry["id"] for entry in saved["entries"]}


def upload_with_retry(register_address: str, data: bytes) -> str | None:
    """Uploads through whichever Svc the Register hands out; a Svc that dies mid-upload costs a retry."""
    for _ in range(8):
        try:
            client = PhotoClient.via_register(register_address, wait=10, timeout=60)
        except grpc.RpcError:
            continue
        try:
            return client.upload(data, ["photomark"], filename="page.png")
        except grpc.RpcError:
            continue
        finally:
            client.close()
    return None


def test_leader_failover_state_transfer_and_restart_from_the_checkpoint(lab, storage_dir):
    register = lab.start_register()
    svcs = [lab.start_svc() for _ in range(5)]
    workers = [lab.start_worker() for _ in range(3)]
    leader = until(lambda: [s for s in svcs if pending_of(s).leader], 20, "a leader")
    assert leader == [svcs[0]]  # the oldest leads
    until(lambda: len(RegisterClient(register.address).list_svcs()) == 5, 20, "the Register to know 5 Svcs")

    answered, lock, started = [], threading.Lock(), threading.Event()

    def client(offset: int) -> None:
        for n in range(25):
            photo_id = upload_with_retry(register.address, page_with("photomark", 1 + n % 3, seed=offset + n))
            if photo_id:
                with lock:
                    answered.append((photo_id, 1 + n % 3))
                    if len(answered) >= 20:
                        started.set()

    clients = [threading.Thread(target=client, args=(i * 100,)) for i in range(4)]
    for thread in clients:
        thread.start()
    assert started.wait(120)
    before = ids(pending_of(svcs[0]))
    lab.kill(svcs[0], signal.SIGKILL)
    killed_at = time.monotonic()

    until(lambda: pending_of(svcs[1]).leader, 20, "the next oldest to lead")
    failover = time.monotonic() - killed_at
    after = pending_of(svcs[1])
    lost = {i for i in before - ids(after) if not (storage_dir / layout.report_path(i)).exists()}
    assert lost == set(), "the new leader lacks entries the old one had"
    until(
        lambda: (
            svcs[0].address
            not in {f"{s.address.ip}:{s.address.port}" for s in RegisterClient(register.address).list_svcs()}
        ),
        20,
        "the Register to drop the dead Svc",
    )
    handed_out = {RegisterClient(register.address).get_svc() for _ in range(20)}
    assert svcs[0].address not in handed_out

    for thread in clients:
        thread.join(240)
    assert len(answered) >= 90  # 100 tried; only uploads cut by the kill may be lost, and they were retried
    watcher = PhotoClient(svcs[1].address, timeout=60)
    results = {photo_id: watcher.wait(photo_id, 240) for photo_id, _ in answered}
    assert {STATE_NAMES[r.state] for r in results.values()} == {"READY"}
    assert all([(c.keyword, c.count) for c in results[i].counts] == [("photomark", n)] for i, n in answered)
    until(lambda: len({frozenset(ids(pending_of(s))) for s in svcs[1:]}) == 1, 20, "the replicas to agree")

    # Workers gone: new uploads stay pending, and a Svc started now gets the list from the leader.
    for worker in workers:
        lab.kill(worker, signal.SIGTERM)
    waiting = {upload_with_retry(register.address, page_with("photomark", 2, seed=500 + i)) for i in range(6)}
    assert None not in waiting
    until(lambda: ids(pending_of(svcs[1])) == waiting, 20, "the leader to hold the new entries")
    newcomer = lab.start_svc()
    until(
        lambda: pending_of(newcomer).synced and ids(pending_of(newcomer)) == waiting,
        20,
        "the newcomer to receive the list",
    )
    assert not pending_of(newcomer).leader

    # Every Svc stopped, then started again: the list comes back from the leader's checkpoint.
    until(lambda: checkpointed(storage_dir) == waiting, 20, "the leader to checkpoint the new entries")
    for svc in lab.of("svc"):
        lab.kill(svc, signal.SIGTERM)
    restarted = [lab.start_svc() for _ in range(5)]
    until(lambda: ids(pending_of(restarted[0])) == waiting, 20, "the restarted leader to restore the list")
    until(lambda: all(ids(pending_of(s)) == waiting for s in restarted), 20, "every replica to hold it")
    lab.start_worker()
    watcher = PhotoClient(restarted[2].address, timeout=60)
    assert {STATE_NAMES[watcher.wait(i, 120).state] for i in waiting} == {"READY"}
    print(f"leader failover: {failover:.3f} s")
