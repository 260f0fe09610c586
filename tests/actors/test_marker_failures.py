"""No photo takes a worker down: how the Marker settles a job whatever goes wrong with it.

The photo's fault ends the job FAILED (``job.failed``, dead letter); this worker's infrastructure
failing (storage, Tesseract unable to run) gives the job back for another try, bounded by its
delivery count; a job that keeps killing its worker is failed unmarked once it was handed out more
than ``max_deliveries`` times.  Tests that run Tesseract are marked ``integration``.
"""

from __future__ import annotations

import errno
import functools
import json
import re
import threading

import pykka
import pytesseract
import pytest
from click.testing import CliRunner

from actorkit.messaging import tell_call
from actors.job import Job
from actors.marker import Marker
from actors.marker_decisions import (
    DEFAULT_MAX_DELIVERIES,
)
from gateways.storage import StorageGateway
from marking import MarkResult, NotAnImage, OcrFailed, OcrUnavailable, mark_photo
from ports.broker import JobDelivered, PreconditionFailed
from storage import layout
from storage.memory import MemoryStorage
from tests.marking.odd_photos import KEYWORDS, ODD_PHOTOS

PHOTO_ID = "0123456789abcdef0123456789abcdef"
OTHER_ID = "fedcba9876543210fedcba9876543210"
NOT_CONNECTED = OSError(errno.ENOTCONN, "Transport endpoint is not connected")


# -- fakes ----------------------------------------------------------------------------------------


class RecordingBroker(pykka.ThreadingActor):
    """A broker that hands the Marker exactly the deliveries a test makes (any delivery count) and
    records how each was settled; ``refuse`` makes acks and rejects fail as a stale tag does."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.listener = None
        self.refuse = refuse
        self.settled: list[tuple[int, str]] = []  # (delivery tag, "ack" | "requeue" | "dead")
        self.cancelled: list[str] = []

    def consume(self, consumer, listener) -> None:
        self.listener = listener

    def cancel(self, consumer) -> None:
        self.cancelled.append(consumer)

    def ack(self, consumer, delivery_tag) -> None:
        self._settle(delivery_tag, "ack")

    def reject(self, consumer, delivery_tag, requeue=False) -> None:
        self._settle(delivery_tag, "requeue" if requeue else "dead")

    def _settle(self, delivery_tag, how) -> None:
        if self.refuse:
            raise PreconditionFailed(f"unknown delivery tag {delivery_tag}")
        self.settled.append((delivery_tag, how))

    def deliver(self, body: bytes, tag: int, deliveries: int = 1) -> None:
        tell_call(
            self.listener,
            "on_job_delivered",
            JobDelivered("w1", tag, body, redelivered=deliveries > 1, deliveries=deliveries),
        )

    def seen(self) -> list[tuple[int, str]]:
        return list(self.settled)


class FlakyStorage(MemoryStorage):
    """Memory storage whose writes (or reads) fail with ``error`` the first ``failures`` times."""

    def __init__(self, fail_writes: int = 0, fail_reads: int = 0, error: OSError = NOT_CONNECTED) -> None:
        super().__init__()
        self.fail_writes, self.fail_reads, self.error = fail_writes, fail_reads, error

    def write(self, name: str, data: bytes) -> None:
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise self.error
        super().write(name, data)

    def read(self, name: str) -> bytes:
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise self.error
        return super().read(name)


class FakeMarking:
    """Stands in for OCR: counts calls; raises ``error`` if given; calls ``die`` in the middle of
    every call if given (the worker dying mid-job)."""

    def __init__(self, error: BaseException | None = None, die=None) -> None:
        self.calls = 0
        self.error, self.die = error, die
        self.lock = threading.Lock()

    def __call__(self, photo: bytes, keywords, *, photo_id: str = "", filename: str = "") -> MarkResult:
        with self.lock:
            self.calls += 1
        if self.die is not None:
            self.die()
        if self.error is not None:
            raise self.error
        report = {
            "id": photo_id,
            "filename": filename,
            "width": 1,
            "height": 1,
            "keywords": {k: {"count": 0, "boxes": [], "texts": []} for k in keywords},
            "engine": {},
            "seconds": 0.0,
        }
        return MarkResult(png=b"marked:" + photo, report=report)


def job_of(photo_id: str = PHOTO_ID) -> Job:
    return Job(photo_id, layout.photo_path(photo_id, "png"), ("alpha",), "page.png", 1.0)


class Worker:
    """A Marker with a recording broker and a storage of its own, in front of ``fakes``' group."""

    def __init__(self, fakes, marking, backend: MemoryStorage | None = None, refuse: bool = False, **settings) -> None:
        self.backend = backend or MemoryStorage()
        self.broker = RecordingBroker.start(refuse).proxy()
        self.storage = StorageGateway.start(self.backend).proxy()
        self.marker = Marker.start(
            "w1",
            self.broker,
            fakes.connection("w1"),
            self.storage,
            mark=marking,
            retry_pause=settings.pop("retry_pause", 0.0),
            **settings,
        ).proxy()

    def deliver(self, job: Job, tag: int = 1, deliveries: int = 1, photo: bytes | None = b"photo") -> None:
        if photo is not None:
            MemoryStorage.write(self.backend, job.photo, photo)  # the upload, before any failure
        self.broker.deliver(job.encode(), tag, deliveries).get()


@pytest.fixture
def worker(fakes):
    return functools.partial(Worker, fakes)


# -- the Marker with a broker that hands it any delivery count ----------------------------------------


def test_a_job_handed_out_more_than_max_deliveries_times_is_failed_unmarked_and_dead_lettered(
    fakes, worker, eventually
):
    marking = FakeMarking()
    w = worker(marking, max_deliveries=3)
    w.deliver(job_of(), deliveries=4)

    assert eventually(lambda: w.broker.seen().get(), what="the reject") == [(1, "dead")]
    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.id == PHOTO_ID
    assert failed.reason.startswith("the job was handed to a worker 3 times and never finished: ")
    assert marking.calls == 0
    assert not w.backend.exists(layout.report_path(PHOTO_ID))


def test_a_job_on_its_last_allowed_delivery_is_still_marked(fakes, worker, eventually):
    marking = FakeMarking()
    w = worker(marking, max_deliveries=3)
    w.deliver(job_of(), deliveries=3)

    assert eventually(lambda: w.broker.seen().get(), what="the ack") == [(1, "ack")]
    assert [d.id for d in fakes.payloads("job.done")] == [PHOTO_ID]
    assert marking.calls == 1


def test_an_already_marked_job_over_the_limit_is_acked_as_done(fakes, worker, eventually):
    w = worker(FakeMarking())
    w.backend.write(layout.report_path(PHOTO_ID), b'{"keywords": {"alpha": {"count": 2}}}')
    w.deliver(job_of(), deliveries=DEFAULT_MAX_DELIVERIES + 3)

    assert eventually(lambda: w.broker.seen().get(), what="the ack") == [(1, "ack")]
    (done,) = eventually(lambda: fakes.payloads("job.done"), what="job.done")
    assert dict(done.counts) == {"alpha": 2}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            OcrFailed("Tesseract failed on this photo (exit status 1): Error in pixSauvolaBinarizeTiled"),
            "photo cannot be marked: Tesseract failed on this photo .exit status 1.: Error in pixSauvola",
        ),
        (
            NotAnImage("not a decodable PNG image: image file is truncated"),
            "photo cannot be marked: not a decodable PNG image",
        ),
        (
            ValueError("x1 must be greater than or equal to x0"),
            "photo cannot be marked: unexpected ValueError: x1 must be greater",
        ),
        (RuntimeError("boom"), "photo cannot be marked: unexpected RuntimeError: boom"),
        (ZeroDivisionError("division by zero"), "photo cannot be marked: unexpected ZeroDivisionError"),
        (MemoryError(), "photo cannot be marked: unexpected MemoryError"),
    ],
    ids=["ocr-failed", "not-an-image", "drawing-bug", "runtime-error", "zero-division", "memory"],
)
def test_any_error_raised_while_marking_fails_the_job_and_the_marker_goes_on(fakes, worker, eventually, error, reason):
    w = worker(FakeMarking(error))
    w.deliver(job_of())

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.id == PHOTO_ID
    assert re.match(reason, failed.reason), failed.reason
    eventually(lambda: w.broker.seen().get() == [(1, "dead")], what="the dead letter")
    assert w.marker.actor_ref.is_alive()

    w.marker.mark = FakeMarking()  # the next photo is fine
    w.deliver(job_of(OTHER_ID), tag=2)
    eventually(lambda: w.broker.seen().get() == [(1, "dead"), (2, "ack")], what="the next job's ack")
    assert [d.id for d in fakes.payloads("job.done")] == [OTHER_ID]


def test_a_photo_missing_from_storage_fails_the_job(fakes, worker, eventually):
    w = worker(FakeMarking())
    w.deliver(job_of(), photo=None)

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.reason == f"photo {layout.photo_path(PHOTO_ID, 'png')} is not in storage"
    assert eventually(lambda: w.broker.seen().get(), what="the reject") == [(1, "dead")]


def test_storage_failing_to_write_gives_the_job_back_for_another_try(fakes, worker, eventually):
    w = worker(FakeMarking(), backend=FlakyStorage(fail_writes=1))
    w.deliver(job_of(), deliveries=1)

    assert eventually(lambda: w.broker.seen().get(), what="the requeue") == [(1, "requeue")]
    assert fakes.payloads("job.failed") == [] and fakes.payloads("job.done") == []
    assert w.marker.actor_ref.is_alive()


def test_storage_failing_to_read_gives_the_job_back_for_another_try(fakes, worker, eventually):
    w = worker(FakeMarking(), backend=FlakyStorage(fail_reads=1))
    w.deliver(job_of(), deliveries=2)

    assert eventually(lambda: w.broker.seen().get(), what="the requeue") == [(1, "requeue")]
    assert fakes.payloads("job.failed") == []


def test_storage_failing_on_the_last_allowed_delivery_fails_the_job_with_that_reason(fakes, worker, eventually):
    w = worker(FakeMarking(), backend=FlakyStorage(fail_writes=1), max_deliveries=2)
    w.deliver(job_of(), deliveries=2)

    assert eventually(lambda: w.broker.seen().get(), what="the reject") == [(1, "dead")]
    (failed,) = fakes.payloads("job.failed")
    assert failed.reason == (
        "storage could not be written: [Errno 107] Transport endpoint is not connected (gave up after 2 deliveries)"
    )


def test_tesseract_unable_to_run_on_this_worker_gives_the_job_back(fakes, worker, eventually):
    w = worker(FakeMarking(OcrUnavailable("Tesseract cannot be run on this worker: not installed")))
    w.deliver(job_of())

    assert eventually(lambda: w.broker.seen().get(), what="the requeue") == [(1, "requeue")]
    assert fakes.payloads("job.failed") == []


def test_an_unreadable_stored_report_is_marked_again_and_rewritten(fakes, worker, eventually):
    marking = FakeMarking()
    w = worker(marking)
    w.backend.write(layout.report_path(PHOTO_ID), b"\x00 half a report")
    w.deliver(job_of())

    assert eventually(lambda: w.broker.seen().get(), what="the ack") == [(1, "ack")]
    assert marking.calls == 1
    assert json.loads(w.backend.read(layout.report_path(PHOTO_ID)))["id"] == PHOTO_ID
    assert dict(fakes.payloads("job.done")[0].counts) == {"alpha": 0}


def test_a_broker_refusing_the_ack_or_reject_does_not_crash_the_marker(fakes, worker, eventually):
    w = worker(FakeMarking(), refuse=True)
    w.deliver(job_of())
    eventually(lambda: fakes.payloads("job.done"), what="job.done")
    w.deliver(job_of(OTHER_ID), tag=2, photo=None)  # a photo missing: a reject, refused too
    eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert w.marker.actor_ref.is_alive()


def test_a_job_waiting_to_be_retried_does_not_hold_up_the_markers_stop(fakes, worker, eventually):
    marking = FakeMarking()
    w = worker(marking, backend=FlakyStorage(fail_writes=1), retry_pause=600.0)
    w.deliver(job_of())
    eventually(lambda: marking.calls == 1 and w.backend.fail_writes == 0, what="the failed write")

    w.marker.actor_ref.stop(timeout=10)  # the job waits on a timer, not in the Marker's thread

    assert w.broker.cancelled.get() == ["w1"]  # the held job goes back with the consumer
    assert w.broker.seen().get() == []


def test_a_job_given_back_after_a_pause_is_requeued_when_the_pause_is_over(fakes, worker, eventually):
    w = worker(FakeMarking(), backend=FlakyStorage(fail_writes=1), retry_pause=0.05)
    w.deliver(job_of())

    assert eventually(lambda: w.broker.seen().get(), what="the requeue") == [(1, "requeue")]


# -- through the memory broker: it counts the deliveries --------------------------------------------


def publish(fakes, photo: bytes = b"photo", photo_id: str = PHOTO_ID) -> Job:
    job = job_of(photo_id)
    fakes.backend.write(job.photo, photo)
    fakes.broker.publish(job.encode()).get()
    return job


def test_a_job_that_kills_every_worker_it_is_handed_to_is_failed_after_max_deliveries(fakes, eventually):
    """Each worker dies in the middle of marking (its storage gateway goes, so its Marker dies at the
    next storage call, which no code catches), the broker hands the job to the next one, and the
    sixth delivery is failed unmarked instead of killing a sixth worker."""
    publish(fakes)
    calls = 0
    for number in range(1, DEFAULT_MAX_DELIVERIES + 1):
        storage = StorageGateway.start(fakes.backend).proxy()
        marking = FakeMarking(die=storage.actor_ref.stop)
        marker = Marker.start(f"w{number}", fakes.broker, fakes.connection(f"w{number}"), storage, mark=marking).proxy()
        eventually(lambda marker=marker: not marker.actor_ref.is_alive(), what=f"worker {number} to die")
        calls += marking.calls
    assert calls == DEFAULT_MAX_DELIVERIES

    last = FakeMarking()
    Marker.start("w6", fakes.broker, fakes.connection("w6"), fakes.storage, mark=last)

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.id == PHOTO_ID
    assert failed.reason.startswith(
        f"the job was handed to a worker {DEFAULT_MAX_DELIVERIES} times and never finished: "
    )
    assert last.calls == 0
    eventually(lambda: len(fakes.broker.dead_letters().get()) == 1, what="the dead letter")
    assert fakes.payloads("job.done") == []


def test_storage_that_keeps_failing_fails_the_job_after_max_deliveries(fakes, eventually):
    backend = FlakyStorage()
    job = job_of()
    backend.write(job.photo, b"photo")
    backend.fail_writes = 10**6  # every write from now on
    fakes.broker.publish(job.encode()).get()
    marking = FakeMarking()
    Marker.start(
        "w1", fakes.broker, fakes.connection("w1"), StorageGateway.start(backend).proxy(), mark=marking, retry_pause=0.0
    )

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.reason == (
        "storage could not be written: [Errno 107] Transport endpoint is not connected "
        f"(gave up after {DEFAULT_MAX_DELIVERIES} deliveries)"
    )
    assert marking.calls == DEFAULT_MAX_DELIVERIES
    eventually(lambda: len(fakes.broker.dead_letters().get()) == 1, what="the dead letter")


def test_storage_failing_once_is_retried_and_the_job_marked(fakes, eventually):
    backend = FlakyStorage()
    job = job_of()
    backend.write(job.photo, b"photo")
    backend.fail_writes = 1
    fakes.broker.publish(job.encode()).get()
    marking = FakeMarking()
    Marker.start(
        "w1", fakes.broker, fakes.connection("w1"), StorageGateway.start(backend).proxy(), mark=marking, retry_pause=0.0
    )

    eventually(lambda: fakes.payloads("job.done"), what="job.done")
    eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")
    assert marking.calls == 2 and fakes.payloads("job.failed") == []


# -- odd photos through a real Marker, with Tesseract ---------------------------------------------


def start_marker(fakes, consumer: str, marking=mark_photo) -> pykka.ActorProxy:
    return Marker.start(consumer, fakes.broker, fakes.connection(consumer), fakes.storage, mark=marking).proxy()


def publish_photo(fakes, photo: bytes, photo_id: str = PHOTO_ID, keywords=KEYWORDS) -> Job:
    job = Job(photo_id, layout.photo_path(photo_id, "png"), tuple(keywords), "odd.png", 1.0)
    fakes.backend.write(job.photo, photo)
    fakes.broker.publish(job.encode()).get()
    return job


@pytest.mark.integration
@pytest.mark.parametrize("name", list(ODD_PHOTOS))
def test_an_odd_photo_through_a_marker_is_done_or_failed_and_the_marker_lives(fakes, eventually, name):
    odd = ODD_PHOTOS[name]
    publish_photo(fakes, odd.data)
    marker = start_marker(fakes, "w1")

    settled = eventually(
        lambda: fakes.payloads("job.done") + fakes.payloads("job.failed"), timeout=60, what="job.done or job.failed"
    )
    if odd.counts is None:
        assert [m.TYPE for m in settled] == ["job.failed"]
        assert settled[0].reason.startswith("photo cannot be marked: ") and odd.reason in settled[0].reason
        eventually(lambda: len(fakes.broker.dead_letters().get()) == 1, what="the dead letter")
    else:
        assert [m.TYPE for m in settled] == ["job.done"]
        assert dict(settled[0].counts) == odd.counts
        eventually(lambda: fakes.broker.stats().get()["acked"] == 1, what="the ack")
        assert fakes.backend.exists(layout.report_path(PHOTO_ID))
    assert marker.actor_ref.is_alive()


@pytest.mark.integration
def test_the_1x1_png_that_took_the_cluster_down_is_marked_with_zero_counts_and_no_worker_dies(fakes, eventually):
    markers = [start_marker(fakes, "w1"), start_marker(fakes, "w2")]
    publish_photo(fakes, ODD_PHOTOS["1x1 png"].data, keywords=["anything"])

    (done,) = eventually(lambda: fakes.payloads("job.done"), what="job.done")
    assert done.id == PHOTO_ID and dict(done.counts) == {"anything": 0}
    publish_photo(fakes, ODD_PHOTOS["16-bit grey png"].data, photo_id=OTHER_ID)
    eventually(lambda: len(fakes.payloads("job.done")) == 2, timeout=60, what="the next job's job.done")
    assert all(marker.actor_ref.is_alive() for marker in markers)
    assert fakes.payloads("job.failed") == [] and fakes.broker.stats().get()["acked"] == 2


@pytest.mark.integration
def test_tesseract_running_out_of_time_through_a_marker_fails_the_job(fakes, eventually):
    publish_photo(fakes, ODD_PHOTOS["cmyk jpeg"].data)
    marker = start_marker(fakes, "w1", functools.partial(mark_photo, ocr_timeout=0.001))

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.reason == (
        "photo cannot be marked: Tesseract did not finish reading this photo in 0.001 s and was stopped"
    )
    assert marker.actor_ref.is_alive()


@pytest.mark.integration
def test_tesseract_crashing_through_a_marker_fails_the_job(fakes, eventually, tmp_path, monkeypatch):
    crashing = tmp_path / "tesseract"
    crashing.write_text('#!/bin/sh\ncase "$1" in --version) exec tesseract --version ;; esac\nkill -SEGV $$\n')
    crashing.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(crashing))
    publish_photo(fakes, ODD_PHOTOS["cmyk jpeg"].data)
    marker = start_marker(fakes, "w1")

    (failed,) = eventually(lambda: fakes.payloads("job.failed"), what="job.failed")
    assert failed.reason.startswith("photo cannot be marked: Tesseract crashed reading this photo (signal SIGSEGV)")
    assert marker.actor_ref.is_alive()


# -- the worker's setting ------------------------------------------------------------------------------


def test_the_worker_command_takes_max_deliveries_from_an_option_or_the_environment():
    from cli.role_commands import worker

    option = next(p for p in worker.params if p.name == "max_deliveries")
    assert option.opts == ["--max-deliveries"] and option.envvar == "PHOTOMARK_MAX_DELIVERIES"
    assert option.default == DEFAULT_MAX_DELIVERIES
    help_text = CliRunner().invoke(worker, ["--help"]).output
    assert "--max-deliveries" in help_text and "PHOTOMARK_MAX_DELIVERIES" in help_text
    refused = CliRunner().invoke(worker, ["--max-deliveries", "0"])
    assert refused.exit_code == 2 and "--max-deliveries" in refused.output


def test_worker_specs_hand_max_deliveries_and_the_ocr_time_limit_to_every_marker(fakes):
    from cli.roles.config import WorkerConfig
    from cli.roles.specs import worker_specs

    config = WorkerConfig(concurrency=2, max_deliveries=2, ocr_timeout=12.5)
    specs = worker_specs(
        config, "wk", lambda: fakes.backend, lambda s: fakes.connection("wk").actor_ref, shared={"broker": fakes.broker}
    )
    started: dict[str, pykka.ActorProxy] = {}
    for spec in specs:
        ref = spec.start(dict(started))
        started[spec.name] = ref if isinstance(ref, pykka.ActorProxy) else ref.proxy()
    assert [started[f"marker-{n}"].max_deliveries.get() for n in (1, 2)] == [2, 2]
    assert [started[f"marker-{n}"].ocr_timeout.get() for n in (1, 2)] == [12.5, 12.5]
    assert WorkerConfig().max_deliveries == DEFAULT_MAX_DELIVERIES
