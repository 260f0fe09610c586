from __future__ import annotations

import pykka
import pytest

from actors.job import Job, decode
from actors.uploader import JobNotQueued, Uploader
from storage import layout


def stored_job(fakes, data: bytes, keywords: tuple[str, ...], filename: str = "page.png") -> Job:
    """A photo written to storage, as the gRPC handler leaves it, and its job."""
    photo_id = layout.new_id()
    job = Job(photo_id, layout.photo_path(photo_id, "png"), keywords, filename, 1.0)
    fakes.backend.write(job.photo, data)
    return job


def test_upload_records_pending_then_publishes_one_job(fakes, png, job_recorder, eventually):
    uploader = Uploader.start(fakes.storage, fakes.broker, fakes.connection("s1")).proxy()

    photo_id = uploader.queue(stored_job(fakes, png, ("alpha", "beta gamma"))).get().result(timeout=30)

    assert layout.ID_PATTERN.fullmatch(photo_id)
    assert fakes.backend.read(layout.photo_path(photo_id, "png")) == png
    added = eventually(lambda: fakes.payloads("pending.add"), what="pending.add")
    assert [p.id for p in added] == [photo_id]
    assert added[0].job.keywords == ("alpha", "beta gamma")
    deliveries = eventually(job_recorder.seen().get, what="the job")
    assert len(deliveries) == 1
    job = decode(deliveries[0].body)
    assert (job.id, job.photo, job.keywords, job.filename) == (
        photo_id,
        f"photos/{photo_id}.png",
        ("alpha", "beta gamma"),
        "page.png",
    )
    assert fakes.broker.stats().get()["published"] == 1


class RefusingBroker(pykka.ThreadingActor):
    def publish(self, body: bytes) -> None:
        raise ConnectionError("broker unreachable")


def test_upload_whose_job_is_not_confirmed_leaves_nothing_and_withdraws_its_entry(fakes, png, eventually):
    uploader = Uploader.start(fakes.storage, RefusingBroker.start().proxy(), fakes.connection("s1")).proxy()

    with pytest.raises(JobNotQueued, match="broker unreachable"):
        uploader.queue(stored_job(fakes, png, ("alpha",))).get().result(timeout=30)

    assert fakes.backend.list("photos") == []
    withdrawn = eventually(lambda: fakes.payloads("pending.withdrawn"), what="pending.withdrawn")
    assert "could not queue" in withdrawn[0].reason
    assert [p.id for p in withdrawn] == [p.id for p in fakes.payloads("pending.add")]
