from __future__ import annotations

import json

from actors import group_messages
from actors.group_messages import PendingAdd
from actors.job import Job
from actors.leader import Leader, LeaderSettings
from actors.pending import PendingList
from storage import layout

PHOTO_ID = "0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def start_svc(fakes, clock, user="s000000001", retry_after=60.0, max_attempts=2):
    group = fakes.connection(user)
    pending = PendingList.start(group, storage=fakes.storage).proxy()
    group.subscribe(pending).get()
    settings = LeaderSettings(retry_after=retry_after, max_attempts=max_attempts, tick=3600)
    leader = Leader.start(group, pending, fakes.broker, fakes.storage, settings, clock=clock).proxy()
    group.subscribe(leader).get()
    group.join(group_messages.SVCS_GROUP).get()
    return group, pending, leader


def add_pending(fakes, group, at: float, store_photo: bool = True) -> Job:
    job = Job(PHOTO_ID, layout.photo_path(PHOTO_ID, "png"), ("alpha",), "p.png", at)
    if store_photo:
        fakes.backend.write(job.photo, b"a photo")
    group_messages.multicast(group, PendingAdd(PHOTO_ID, job, at))
    return job


def test_the_first_svc_leads_and_starts_from_the_checkpoint(fakes, eventually):
    job = Job(PHOTO_ID, layout.photo_path(PHOTO_ID, "png"), ("alpha",), "p.png", 5.0)
    entry = {
        "id": PHOTO_ID,
        "job": job.as_dict(),
        "status": "pending",
        "attempts": 1,
        "since": 5.0,
        "reason": "",
        "svc": "",
    }
    fakes.backend.write(layout.PENDING_STATE, json.dumps({"v": 1, "entries": [entry]}).encode())

    _, pending, leader = start_svc(fakes, Clock())

    eventually(lambda: leader.is_leading().get(), what="leadership")
    eventually(lambda: pending.entry(PHOTO_ID).get(), what="the restored entry")


def test_an_overdue_job_is_published_again_then_given_up(fakes, job_recorder, eventually):
    clock = Clock(1000.0)
    group, pending, leader = start_svc(fakes, clock, retry_after=60.0, max_attempts=2)
    eventually(lambda: leader.is_leading().get(), what="leadership")
    add_pending(fakes, group, at=1000.0)
    eventually(lambda: pending.entry(PHOTO_ID).get(), what="the pending entry")

    clock.now = 1030.0
    leader.tick().get()
    assert fakes.payloads("job.retry") == []

    clock.now = 1061.0
    leader.tick().get()
    retries = eventually(lambda: fakes.payloads("job.retry"), what="job.retry")
    assert retries[0].attempt == 2
    eventually(lambda: len(job_recorder.seen().get()) == 1, what="the re-published job")
    eventually(lambda: pending.entry(PHOTO_ID).get().attempts == 2, what="attempt 2 applied")

    clock.now = 1200.0
    leader.tick().get()
    failed = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert "after 2 attempts" in failed[0].reason
    eventually(lambda: pending.entry(PHOTO_ID).get().status == "failed", what="the failed entry")


def test_a_lost_done_message_is_repaired_from_the_stored_report(fakes, eventually):
    clock = Clock(1000.0)
    group, pending, leader = start_svc(fakes, clock)
    eventually(lambda: leader.is_leading().get(), what="leadership")
    add_pending(fakes, group, at=1000.0)
    fakes.backend.write(layout.report_path(PHOTO_ID), b"{}")

    clock.now = 2000.0
    leader.tick().get()

    eventually(lambda: fakes.payloads("job.done"), what="job.done")
    eventually(lambda: pending.entry(PHOTO_ID).get() is None, what="the entry to leave")


def test_the_leader_checkpoints_the_list_when_it_changed(fakes, eventually):
    group, pending, leader = start_svc(fakes, Clock())
    eventually(lambda: leader.is_leading().get(), what="leadership")
    add_pending(fakes, group, at=1000.0)
    eventually(lambda: pending.entry(PHOTO_ID).get(), what="the pending entry")

    leader.tick().get()

    saved = json.loads(fakes.backend.read(layout.PENDING_STATE))
    assert [entry["id"] for entry in saved["entries"]] == [PHOTO_ID]


def test_the_younger_svc_does_not_lead(fakes, eventually):
    _, _, older = start_svc(fakes, Clock(), user="s000000001")
    _, _, younger = start_svc(fakes, Clock(), user="s000000002")
    eventually(lambda: older.is_leading().get(), what="the older to lead")
    assert not younger.is_leading().get()


def test_an_overdue_job_whose_photo_is_gone_is_withdrawn_not_published(fakes, job_recorder, eventually):
    """The Svc removed the photo of an upload it could not finish, but its withdrawal never reached the group."""
    clock = Clock(1000.0)
    group, pending, leader = start_svc(fakes, clock, retry_after=60.0)
    eventually(lambda: leader.is_leading().get(), what="leadership")
    add_pending(fakes, group, at=1000.0, store_photo=False)
    eventually(lambda: pending.entry(PHOTO_ID).get(), what="the pending entry")

    clock.now = 1061.0
    leader.tick().get()

    withdrawn = eventually(lambda: fakes.payloads("pending.withdrawn"), what="pending.withdrawn")
    assert withdrawn[0].id == PHOTO_ID and "not in storage" in withdrawn[0].reason
    eventually(lambda: pending.entry(PHOTO_ID).get() is None, what="the entry to leave")
    assert fakes.payloads("job.retry") == [] and job_recorder.seen().get() == []
