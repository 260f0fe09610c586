from __future__ import annotations

import json
import threading
from collections.abc import Callable

from actors.job import Job
from actors.marker import Marker
from gateways.storage import StorageGateway
from marking import MarkResult
from storage import layout

PHOTO_ID = "0123456789abcdef0123456789abcdef"


class FakeMarking:
    """Stands in for OCR: counts calls, and can kill its worker the first time (``die_first`` is called
    in the middle of it: a worker dying mid-job, which no code of the Marker can catch)."""

    def __init__(self, die_first: Callable[[], object] | None = None) -> None:
        self.calls = 0
        self.die_first = die_first
        self.lock = threading.Lock()

    def __call__(self, photo: bytes, keywords, *, photo_id: str = "", filename: str = "") -> MarkResult:
        with self.lock:
            self.calls += 1
            die = self.die_first is not None and self.calls == 1
        if die:
            self.die_first()
        report = {
            "id": photo_id,
            "filename": filename,
            "width": 64,
            "height": 32,
            "keywords": {k: {"count": 1, "boxes": [[0, 0, 5, 5]], "texts": [k]} for k in keywords},
            "engine": {},
            "seconds": 0.0,
        }
        return MarkResult(png=b"marked:" + photo, report=report)


def publish_job(fakes, png: bytes, keywords=("alpha",)) -> Job:
    job = Job(PHOTO_ID, layout.photo_path(PHOTO_ID, "png"), tuple(keywords), "page.png", 1.0)
    fakes.backend.write(job.photo, png)
    fakes.broker.publish(job.encode()).get()
    return job


def start_marker(fakes, consumer: str, marking) -> object:
    return Marker.start(consumer, fakes.broker, fakes.connection(consumer[:10]), fakes.storage, mark=marking).proxy()


def test_marker_writes_marks_and_report_multicasts_done_then_acks(fakes, png, eventually):
    marking = FakeMarking()
    publish_job(fakes, png, ("alpha", "beta"))
    start_marker(fakes, "w1", marking)

    done = eventually(lambda: fakes.payloads("job.done"), what="job.done")
    assert done[0].id == PHOTO_ID and dict(done[0].counts) == {"alpha": 1, "beta": 1}
    assert fakes.backend.read(layout.marks_path(PHOTO_ID)) == b"marked:" + png
    assert json.loads(fakes.backend.read(layout.report_path(PHOTO_ID)))["id"] == PHOTO_ID
    eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")


def test_worker_crash_before_ack_leads_to_redelivery_and_one_marked_photo(fakes, png, eventually):
    # The first worker dies in the middle of OCR: its storage gateway goes, so its Marker dies at the
    # next storage call (a gateway gone is the worker's failure, never caught), the job left unacked.
    first_storage = StorageGateway.start(fakes.backend).proxy()
    marking = FakeMarking(die_first=first_storage.actor_ref.stop)
    publish_job(fakes, png)
    first = Marker.start("w1", fakes.broker, fakes.connection("w1"), first_storage, mark=marking).proxy()
    eventually(lambda: not first.actor_ref.is_alive(), what="the first marker to crash")
    assert fakes.backend.list("photos") == [layout.photo_path(PHOTO_ID, "png")]  # nothing half-written

    start_marker(fakes, "w2", marking)

    eventually(lambda: fakes.payloads("job.done"), what="job.done after redelivery")
    eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")
    assert marking.calls == 2
    assert sorted(fakes.backend.list("photos")) == sorted(
        [layout.photo_path(PHOTO_ID, "png"), layout.marks_path(PHOTO_ID), layout.report_path(PHOTO_ID)]
    )
    assert len(fakes.payloads("job.done")) == 1
    assert fakes.broker.stats().get()["ready"] == 0


def test_redelivered_job_already_marked_is_acked_without_marking_again(fakes, png, eventually):
    marking = FakeMarking()
    job = publish_job(fakes, png)
    fakes.backend.write(layout.marks_path(job.id), b"old marks")
    fakes.backend.write(
        layout.report_path(job.id), json.dumps({"keywords": {"alpha": {"count": 3, "boxes": [], "texts": []}}}).encode()
    )
    start_marker(fakes, "w1", marking)

    done = eventually(lambda: fakes.payloads("job.done"), what="job.done")
    assert dict(done[0].counts) == {"alpha": 3}
    assert marking.calls == 0
    eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")


def test_poison_job_is_dead_lettered_and_reported_failed(fakes, eventually):
    fakes.broker.publish(b'{"v": 1, "id": "' + PHOTO_ID.encode() + b'", "photo": 7}').get()
    fakes.broker.publish(b"\xff not json").get()
    start_marker(fakes, "w1", FakeMarking())

    eventually(lambda: len(fakes.broker.dead_letters().get()) == 2, what="two dead letters")
    failed = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert [f.id for f in failed] == [PHOTO_ID]  # the garbage one has no id to report
    assert "poison job" in failed[0].reason


def test_photo_that_is_not_an_image_is_rejected_and_reported(fakes, eventually):
    from marking import mark_photo

    publish_job(fakes, b"this is text, not a photo")
    start_marker(fakes, "w1", mark_photo)

    failed = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert "cannot be marked" in failed[0].reason
    assert len(fakes.broker.dead_letters().get()) == 1
