"""State transfer of the pending list from the leader to a Svc that joins."""

from __future__ import annotations

import json

from actors import group_messages
from actors.group_messages import JobDone, PendingAdd
from actors.job import job_from_dict
from actors.leader import Leader, LeaderSettings
from actors.pending import PendingList
from actors.pending_snapshot import Assembler, chunks
from actors.pending_state import Entry
from storage import layout

JOB = {"v": 1, "keywords": ["alpha"], "filename": "x.png", "submitted_at": 1.0}


def entry(i: int) -> dict:
    photo_id = f"{i:032x}"
    return {
        "id": photo_id,
        "job": {**JOB, "id": photo_id, "photo": f"photos/{photo_id}.png"},
        "status": "pending",
        "attempts": 1,
        "since": float(i),
        "reason": "",
        "svc": "",
    }


def svc(fakes, user: str, chunk_bytes: int = 96_000):
    group = fakes.connection(user)
    pending = PendingList.start(group, storage=fakes.storage, chunk_bytes=chunk_bytes).proxy()
    group.subscribe(pending).get()
    group.join(group_messages.SVCS_GROUP).get()
    return group, pending


def add(group, i: int) -> None:
    data = entry(i)
    group_messages.multicast(group, PendingAdd(data["id"], job_from_dict(data["job"]), data["since"]))


def ids(pending) -> list[str]:
    return sorted(e["id"] for e in pending.snapshot().get()[1])


def test_snapshot_chunks_reassemble_in_any_order():
    entries = [Entry.from_dict(entry(i)) for i in range(2000)]
    parts = chunks(entries, "n1", "#s2#h", chunk_bytes=5_000)
    assert len(parts) > 3
    assembler = Assembler("n1")
    assert all(assembler.add(part) is None for part in reversed(parts[1:]))
    assert assembler.add(parts[0]) == entries
    assert Assembler("other").add(parts[0]) is None


def test_a_svc_that_joins_gets_the_list_and_what_happened_meanwhile(fakes, eventually):
    old_group, old = svc(fakes, "s000000001")
    eventually(lambda: old.is_synced().get(), what="the first Svc to be synced")
    for i in range(20):
        add(old_group, i)

    new_group, new = svc(fakes, "s000000002")
    for i in range(20, 30):
        add(old_group, i)  # while the transfer goes on

    eventually(lambda: new.is_synced().get(), what="the newcomer to be synced")
    eventually(lambda: ids(new) == ids(old) and len(ids(old)) == 30, what="the replicas to agree")
    group_messages.multicast(new_group, JobDone(entry(3)["id"]))
    eventually(lambda: ids(new) == ids(old) and len(ids(new)) == 29, what="both to apply later messages")


def test_a_list_of_100000_entries_travels_in_chunks(fakes, eventually):
    fakes.backend.write(
        layout.PENDING_STATE, json.dumps({"v": 1, "entries": [entry(i) for i in range(100_000)]}).encode()
    )
    _, old = svc(fakes, "s000000001", chunk_bytes=96_000)
    eventually(lambda: old.is_synced().get(), what="the first Svc to start from the checkpoint")
    assert old.count().get() == 100_000

    _, new = svc(fakes, "s000000002")

    eventually(lambda: new.is_synced().get(), timeout=60, what="the newcomer to be synced")
    assert new.count().get() == 100_000
    assert new.snapshot().get()[1] == old.snapshot().get()[1]
    assert len(fakes.payloads("pending.snapshot")) == 0  # chunks go to the newcomer alone, not the group


def test_a_newcomer_asks_the_next_leader_when_the_first_one_leaves(fakes, eventually):
    silent = fakes.connection("s000000000")  # the oldest, but it never answers
    silent.join(group_messages.SVCS_GROUP).get()
    second_group, second = svc(fakes, "s000000001")
    silent.leave(group_messages.SVCS_GROUP).get()
    eventually(lambda: second.is_synced().get(), what="the second to lead and be synced")
    silent.join(group_messages.SVCS_GROUP).get()  # back, and oldest again: newcomers ask it first
    add(second_group, 1)

    _, newcomer = svc(fakes, "s000000002")
    requests = eventually(lambda: fakes.payloads("pending.snapshot_request"), what="the first request")
    assert requests[-1].asked.startswith("#s000000000")
    assert not newcomer.is_synced().get()

    silent.leave(group_messages.SVCS_GROUP).get()

    eventually(lambda: newcomer.is_synced().get(), what="the newcomer to be synced by the next leader")
    assert ids(newcomer) == ids(second) == [entry(1)["id"]]


def test_a_replica_that_holds_the_list_does_not_bring_back_checkpointed_jobs_when_it_takes_over(fakes, eventually):
    stale = entry(7)
    fakes.backend.write(layout.PENDING_STATE, json.dumps({"v": 1, "entries": [stale]}).encode())
    first_group, first = svc(fakes, "s000000001")
    eventually(lambda: ids(first) == [stale["id"]], what="the first Svc to start from the checkpoint")
    group_messages.multicast(first_group, JobDone(stale["id"]))
    second_group, second = svc(fakes, "s000000002")
    leader = Leader.start(second_group, second, fakes.broker, fakes.storage, LeaderSettings(tick=3600)).proxy()
    second_group.subscribe(leader).get()
    eventually(lambda: second.is_synced().get(), what="the second to get the list")
    assert ids(second) == []

    first_group.leave(group_messages.SVCS_GROUP).get()  # the second leads now; the checkpoint is older

    eventually(lambda: leader.is_leading().get(), what="the second to lead")
    assert ids(second) == []
