"""A Marker stops at once even while Tesseract reads a photo: Tesseract is killed, the job goes back to
the queue unacked (redelivered, marked by the next worker), and a photo Tesseract cannot read within
the Marker's ``ocr_timeout`` ends FAILED, never retried.

Tesseract here is a script that never finishes (``tests/marking/slow_tesseract.py``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pykka
import pytesseract
import pytest
from PIL import Image

from actors.job import Job
from actors.marker import Marker
from actors.marker_decisions import check_ocr_timeout
from marking import MarkResult, mark_photo
from ports.broker import JobDelivered
from storage import layout
from tests.marking.slow_tesseract import SlowTesseract, slow_tesseract
from tests.processes import wait_gone

PHOTO_ID = "0123456789abcdef0123456789abcdef"
# The supervisor's stop_timeout: a Marker slower to stop is logged child.stop_timeout and left behind.
STOP_BOUND = 5.0
GONE_WITHIN = 30.0  # failure bound for a killed Tesseract to be gone


@pytest.fixture
def slow(tmp_path, monkeypatch) -> Iterator[SlowTesseract]:
    with slow_tesseract(tmp_path / "slow-tesseract") as tesseract:
        monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tesseract.path))
        yield tesseract


def page() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(buffer, "PNG")  # room for a line: Tesseract is run
    return buffer.getvalue()


def publish(fakes, photo_id: str = PHOTO_ID) -> Job:
    job = Job(photo_id, layout.photo_path(photo_id, "png"), ("alpha",), "page.png", 1.0)
    fakes.backend.write(job.photo, page())
    fakes.broker.publish(job.encode()).get()
    return job


def quick_marking(photo: bytes, keywords, *, photo_id: str = "", filename: str = "") -> MarkResult:
    report = {
        "id": photo_id,
        "filename": filename,
        "width": 200,
        "height": 100,
        "keywords": {k: {"count": 1, "boxes": [[0, 0, 5, 5]], "texts": [k]} for k in keywords},
        "engine": {},
        "seconds": 0.0,
    }
    return MarkResult(png=b"marked", report=report)


def start_marker(fakes, consumer: str, mark=mark_photo, **settings) -> pykka.ActorProxy:
    group = fakes.connection(consumer)
    return Marker.start(consumer, fakes.broker, group, fakes.storage, mark=mark, **settings).proxy()


def test_a_marker_stopped_while_tesseract_reads_stops_at_once_kills_tesseract_and_gives_the_job_back(
    fakes, slow, eventually
):
    publish(fakes)
    marker = start_marker(fakes, "w1")
    pid = slow.running()
    eventually(lambda: fakes.broker.stats().get()["unacked"] == 1, what="the job to be held")

    assert marker.actor_ref.stop(timeout=STOP_BOUND)  # raises pykka.Timeout past the bound

    assert wait_gone(pid, GONE_WITHIN), "tesseract still runs after its marker stopped"
    eventually(lambda: fakes.broker.stats().get()["ready"] == 1, what="the job back in the queue")
    assert fakes.broker.stats().get()["unacked"] == 0
    assert fakes.payloads("job.failed") == [] and fakes.payloads("job.done") == []
    assert not fakes.backend.exists(layout.report_path(PHOTO_ID))

    start_marker(fakes, "w2", quick_marking)  # the next worker gets it again, and marks it

    (done,) = eventually(lambda: fakes.payloads("job.done"), what="job.done after the redelivery")
    assert done.id == PHOTO_ID and dict(done.counts) == {"alpha": 1}
    eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")
    assert len(slow.pids()) == 1  # Tesseract ran once, for the stopped marker


def test_a_job_waiting_behind_the_photo_being_marked_goes_back_too(fakes, slow, eventually):
    publish(fakes)
    marker = start_marker(fakes, "w1")
    slow.running()
    other = Job("fedcba9876543210fedcba9876543210", layout.photo_path(PHOTO_ID, "png"), ("b",), "o.png", 1.0)
    # Handed in directly: the broker would hold it back until the first is settled (prefetch 1).
    marker.on_job_delivered(JobDelivered("w1", 99, other.encode())).get()

    assert marker.actor_ref.stop(timeout=STOP_BOUND)

    assert len(slow.pids()) == 1  # the second photo was not started
    eventually(lambda: fakes.broker.stats().get()["ready"] == 1, what="the marked job back in the queue")


def test_a_photo_tesseract_cannot_read_within_the_ocr_timeout_ends_failed_with_the_reason(fakes, slow, eventually):
    publish(fakes)
    marker = start_marker(fakes, "w1", ocr_timeout=0.5)

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.id == PHOTO_ID
    assert failed.reason == (
        "photo cannot be marked: Tesseract did not finish reading this photo in 0.5 s and was stopped"
    )
    eventually(lambda: len(fakes.broker.dead_letters().get()) == 1, what="the dead letter")
    stats = fakes.broker.stats().get()
    assert stats["ready"] == 0 and stats["unacked"] == 0  # not given back for another try
    (pid,) = slow.pids()
    assert wait_gone(pid, GONE_WITHIN)
    assert marker.actor_ref.is_alive()


def test_the_ocr_timeout_reaches_marking_only_when_set(fakes, eventually):
    seen: list[dict] = []

    def marking(photo, keywords, **options) -> MarkResult:
        seen.append({k: v for k, v in options.items() if k == "ocr_timeout"})
        return quick_marking(photo, keywords, photo_id=options["photo_id"], filename=options["filename"])

    publish(fakes)
    first = start_marker(fakes, "w1", marking, ocr_timeout=7)
    eventually(lambda: fakes.payloads("job.done"), what="job.done")
    first.actor_ref.stop()
    publish(fakes, "fedcba9876543210fedcba9876543210")
    start_marker(fakes, "w2", marking)
    eventually(lambda: len(fakes.payloads("job.done")) == 2, what="the second job.done")
    assert sorted(seen, key=len) == [{}, {"ocr_timeout": 7.0}]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "10"])
def test_an_ocr_timeout_that_is_not_a_positive_number_of_seconds_is_refused(bad):
    with pytest.raises(ValueError, match="ocr_timeout"):
        check_ocr_timeout(bad)
    assert check_ocr_timeout(None) is None and check_ocr_timeout(2) == 2.0
