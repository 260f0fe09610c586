"""The Marker: a worker's consumer of jobs; it OCRs, marks and reports one photo at a time.

For each delivered job: decode it, read the photo, mark it (``marking/``),
write the marked photo and then the report (the report's presence means
READY), multicast ``job.done``, and only then ack.  Marking is idempotent: a
job whose report already exists is acknowledged without marking again (an
unreadable stored report is not trusted: the photo is marked again and the
report rewritten).

No photo takes a worker down.  Whatever goes wrong with one job, the Marker
settles it and goes on with the next:

* The photo's fault, the job can never succeed anywhere: a poison job, a photo
  missing from storage, bytes that are not a decodable image, a photo too
  large, Tesseract failing, crashing or running out of time on it, any other
  error raised while marking it.  ``job.failed`` with the reason, and reject
  without requeue (the dead letters).
* This worker's infrastructure failed, not the photo: storage unreachable
  (``OSError`` reading or writing), Tesseract unable to run here.  Reject with
  requeue after a pause, so another try happens (here or on another worker),
  bounded by the delivery count: on the job's last allowed delivery it ends
  FAILED with that reason (``marker_decisions.after_outage``).
* A job handed out more than ``max_deliveries`` times is not marked: every
  earlier delivery died with its worker (``marker_decisions.on_delivery``).
* The broker refusing an ack or reject (a stale tag after a reconnect, the
  broker unreachable) is logged: the broker still holds the job and hands it
  out again, and that delivery finds the report (and acks) or decides anew.

Only the death of a gateway actor it talks to (``pykka.ActorDeadError``)
crashes the Marker: that is this worker failing, for its supervisor to
restart (rest_for_one: the gateway and the markers after it); the unacked job
goes back to the queue with one delivery more, as when the process dies.

A stop does not wait for OCR.  The photo is marked in a thread of its own
(``Marking``), whose outcome comes back told as ``_marked``, so the Marker's
thread stays free to hear a stop while Tesseract runs; ``on_stop`` kills that
Tesseract (``marking.tesseract.TesseractRuns``) and leaves the job unacked:
cancelling the consumer gives it back to the queue, redelivered, and marking is
idempotent.  Tesseract also dies with the marking thread and with the process
(``PR_SET_PDEATHSIG``), so neither a stopped Marker nor a killed worker leaves
OCR running.  Still one photo at a time: a delivery that arrives while a photo
is being marked waits its turn (the broker hands a consumer one job at a time
anyway).  ``ocr_timeout`` (seconds, default ``marking.ocr.ocr_timeout`` of the
photo's size) bounds each Tesseract run: a photo over it ends FAILED.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

import pykka
import structlog

from actorkit.messaging import tell_call
from actors import group_messages
from actors.group_messages import GroupMessage, JobDone, JobFailed
from actors.job import Job, PoisonJob, decode, job_id_of
from actors.marker_decisions import (
    DEFAULT_MAX_DELIVERIES,
    RETRY_PAUSE,
    GiveUp,
    after_outage,
    check_max_deliveries,
    check_ocr_timeout,
    on_delivery,
    retry_delay,
    short,
)
from marking import (
    MarkResult,
    NotAnImage,
    OcrFailed,
    OcrUnavailable,
    PhotoTooLarge,
    UnreadableReport,
    counts_of,
    mark_photo,
)
from marking.tesseract import OcrStopped, TesseractRuns
from ports.broker import BrokerError, JobDelivered
from ports.group import GroupError
from storage import layout
from storage.backend import ObjectNotFound, UnsafeName

log = structlog.get_logger()

# What marking raises for a photo it cannot mark: the message says it all.
PHOTO_ERRORS = (NotAnImage, PhotoTooLarge, OcrFailed)
# How long a stopping Marker waits for its marking thread once its Tesseract is killed: the thread
# only reaps the process and removes its temporary files then (a fake ``mark`` may not end at all).
MARKING_STOP_WAIT = 2.0


class PhotoFault(Exception):
    """The job can never succeed: it ends FAILED with this reason."""


class Outage(Exception):
    """This worker's infrastructure failed the job: it is tried again (bounded)."""


class Marker(pykka.ThreadingActor):
    def __init__(
        self,
        consumer: str,
        broker: pykka.ActorProxy,
        group: pykka.ActorProxy,
        storage: pykka.ActorProxy,
        mark=mark_photo,
        clock=time.time,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        retry_pause: float = RETRY_PAUSE,
        ocr_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.consumer, self.broker, self.group, self.storage = consumer, broker, group, storage
        self.mark, self.clock = mark, clock
        self.max_deliveries = check_max_deliveries(max_deliveries)
        self.retry_pause = retry_pause
        # Handed to ``mark`` only when set, as its ``ocr_timeout``; else marking's own rule.
        self.ocr_timeout = check_ocr_timeout(ocr_timeout)
        self._retry_timer: threading.Timer | None = None
        self._waiting: deque[JobDelivered] = deque()  # deliveries waiting for the photo being marked
        self._marking: Marking | None = None

    def on_start(self) -> None:
        self.broker.consume(self.consumer, self.actor_ref).get()

    def on_stop(self) -> None:
        self._stop_marking()
        self._cancel()

    def on_failure(self, *exc_info) -> None:
        self._stop_marking()
        self._cancel()

    def _stop_marking(self) -> None:
        """Kill the Tesseract of the photo being marked, if any; its job stays unacked."""
        marking, self._marking = self._marking, None
        if marking is None:
            return
        if marking.stop(MARKING_STOP_WAIT):
            log.info("marker.marking_stopped", consumer=self.consumer, id=marking.job.id)
        else:
            log.warning("marker.marking_left_running", consumer=self.consumer, id=marking.job.id)

    def _cancel(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()  # the job held for a retry goes back with the consumer
        try:
            self.broker.cancel(self.consumer)
        except pykka.ActorDeadError:
            pass

    def on_job_delivered(self, delivery: JobDelivered) -> None:
        self._waiting.append(delivery)
        self._take_next()

    def _take_next(self) -> None:
        """Handle the waiting deliveries until one is being marked (or none is left)."""
        while self._marking is None and self._waiting:
            self._handle(self._waiting.popleft())

    def _handle(self, delivery: JobDelivered) -> None:
        """Settle the delivery now, or start marking its photo (then ``_marked`` settles it)."""
        try:
            job = decode(delivery.body)
        except PoisonJob as error:
            self._give_up(delivery, job_id_of(delivery.body), f"poison job: {error}")
            return
        try:
            counts = self._stored_counts(job, delivery)
            if counts is None:
                decision = on_delivery(delivery.deliveries, self.max_deliveries)
                if isinstance(decision, GiveUp):
                    self._give_up(delivery, job.id, decision.reason)
                    return
                photo = self._read_photo(job)
                options = {} if self.ocr_timeout is None else {"ocr_timeout": self.ocr_timeout}
                self._marking = Marking(self.actor_ref, self.mark, delivery, job, photo, options, self.clock)
                return
        except (PhotoFault, Outage) as failure:
            self._failed(delivery, job.id, failure)
            return
        self._done(delivery, job.id, counts)

    def _marked(self, marking: Marking, outcome: MarkResult | BaseException) -> None:
        """Told by the marking thread: store the marks and the report, then settle the job."""
        if marking is not self._marking:
            return  # stopped meanwhile: its job went back to the queue
        self._marking = None
        job, delivery = marking.job, marking.delivery
        if isinstance(outcome, OcrStopped):  # not stopped by this Marker: give the job back
            log.warning("marker.ocr_stopped", id=job.id)
            self._settle(delivery, requeue=True)
        else:
            try:
                counts = self._store(job, outcome)
            except (PhotoFault, Outage) as failure:
                self._failed(delivery, job.id, failure)
            else:
                log.info("marker.marked", id=job.id, seconds=round(self.clock() - marking.started, 3), counts=counts)
                self._done(delivery, job.id, counts)
        self._take_next()

    def requeue(self, delivery: JobDelivered) -> None:
        """Told by the retry timer: the pause is over, the job goes back to the queue."""
        self._retry_timer = None
        self._settle(delivery, requeue=True)

    # -- the steps of one job; each raises PhotoFault or Outage ----------------------------

    def _stored_counts(self, job: Job, delivery: JobDelivered) -> dict[str, int] | None:
        """The counts of the job's report if one is stored and readable, else None (mark it)."""
        name = layout.report_path(job.id)
        try:
            if not self.storage.exists(name).get():
                return None
            data = self.storage.read(name).get()
        except ObjectNotFound:
            return None  # deleted since: mark it
        except OSError as error:
            raise Outage(f"storage could not be read: {_describe(error)}") from error
        try:
            counts = counts_of(data)
        except UnreadableReport as error:
            log.warning("marker.report_unreadable", id=job.id, error=str(error))
            return None  # marked again, and the report rewritten
        log.info("marker.already_marked", id=job.id, redelivered=delivery.redelivered, deliveries=delivery.deliveries)
        return counts

    def _read_photo(self, job: Job) -> bytes:
        try:
            return self.storage.read(job.photo).get()
        except ObjectNotFound:
            raise PhotoFault(f"photo {job.photo} is not in storage") from None
        except UnsafeName as error:
            raise PhotoFault(f"photo {job.photo} cannot be in storage: {error}") from None
        except OSError as error:
            raise Outage(f"storage could not be read: {_describe(error)}") from error

    def _store(self, job: Job, outcome: MarkResult | BaseException) -> dict[str, int]:
        """The counts of a marked photo, once its marks and report are written; what marking
        raised (``outcome``), as the fault it is."""
        if isinstance(outcome, BaseException):
            raise _failure_of(job, outcome)
        try:
            counts = counts_of(outcome.report)
        except Exception as error:  # a report marking could not count is this photo's
            raise _failure_of(job, error) from error
        report = json.dumps(outcome.report, ensure_ascii=False, indent=1).encode()
        try:
            self.storage.write(layout.marks_path(job.id), outcome.png).get()
            self.storage.write(layout.report_path(job.id), report).get()
        except OSError as error:
            raise Outage(f"storage could not be written: {_describe(error)}") from error
        return counts

    # -- settling a delivery --------------------------------------------------------------

    def _done(self, delivery: JobDelivered, photo_id: str, counts: dict[str, int]) -> None:
        self._multicast(JobDone(photo_id, self.clock(), tuple(counts.items())))
        self._settle(delivery, requeue=None)

    def _failed(self, delivery: JobDelivered, photo_id: str, failure: PhotoFault | Outage) -> None:
        if isinstance(failure, PhotoFault):
            self._give_up(delivery, photo_id, str(failure))
            return
        decision = after_outage(delivery.deliveries, self.max_deliveries, str(failure))
        if isinstance(decision, GiveUp):
            self._give_up(delivery, photo_id, decision.reason)
        else:
            self._retry(delivery, photo_id, decision.reason)

    def _give_up(self, delivery: JobDelivered, photo_id: str | None, reason: str) -> None:
        reason = short(reason)
        log.warning("marker.rejected", id=photo_id, reason=reason, deliveries=delivery.deliveries)
        if photo_id:
            self._multicast(JobFailed(photo_id, reason, self.clock()))
        self._settle(delivery, requeue=False)

    def _retry(self, delivery: JobDelivered, photo_id: str, reason: str) -> None:
        delay = retry_delay(delivery.deliveries, self.retry_pause)
        log.warning("marker.retry", id=photo_id, reason=reason, deliveries=delivery.deliveries, after=delay)
        if delay <= 0:
            self._settle(delivery, requeue=True)
            return
        # A timer, not a sleep: the Marker stays free to stop while the job waits (unacked).
        self._retry_timer = threading.Timer(delay, tell_call, (self.actor_ref, "requeue", delivery))
        self._retry_timer.daemon = True
        self._retry_timer.start()

    def _settle(self, delivery: JobDelivered, requeue: bool | None) -> None:
        """Ack (``requeue`` None) or reject the delivery.  A broker error is logged, not raised:
        the broker still holds the job and hands it out again."""
        try:
            if requeue is None:
                self.broker.ack(self.consumer, delivery.delivery_tag).get()
            else:
                self.broker.reject(self.consumer, delivery.delivery_tag, requeue=requeue).get()
        except BrokerError as error:
            log.warning("marker.settle_failed", tag=delivery.delivery_tag, requeue=requeue, error=str(error))

    def _multicast(self, message: GroupMessage) -> None:
        """A lost send is logged and the job settled anyway: the report (or its absence) in storage
        is what Status reads, and the leader repairs the pending entry when it finds it overdue."""
        try:
            group_messages.multicast(self.group, message)
        except GroupError as error:
            log.warning("marker.send_lost", type=message.TYPE, id=message.id, error=str(error))


class Marking:
    """One photo being marked in a thread of its own, so that the Marker's thread stays free to
    hear a stop: the outcome (the ``MarkResult``, or what marking raised) is told back to the
    Marker as ``_marked``.  Its Tesseract runs in ``runs``, and dies with this thread (see
    ``marking/tesseract.py``: the parent-death signal follows the thread that started it)."""

    def __init__(self, marker: pykka.ActorRef, mark, delivery: JobDelivered, job: Job, photo: bytes, options, clock):
        self.marker, self.delivery, self.job = marker, delivery, job
        self.started = clock()
        self.runs = TesseractRuns()
        self.thread = threading.Thread(
            target=self._run, args=(mark, photo, options), name=f"marking-{job.id[:8]}", daemon=True
        )
        self.thread.start()

    def _run(self, mark, photo: bytes, options) -> None:
        with self.runs:
            try:
                outcome = mark(photo, self.job.keywords, photo_id=self.job.id, filename=self.job.filename, **options)
            except BaseException as error:  # noqa: BLE001 - handed to the Marker, which places it
                outcome = error
        tell_call(self.marker, "_marked", self, outcome)

    def stop(self, wait: float) -> bool:
        """Kill its Tesseract and wait up to ``wait`` seconds for the thread to end; whether it did."""
        self.runs.stop()
        self.thread.join(wait)
        return not self.thread.is_alive()


def _failure_of(job: Job, error: BaseException) -> PhotoFault | Outage:
    """What an error raised while marking ``job``'s photo means.  Not an ``Exception`` (SystemExit,
    KeyboardInterrupt) is raised again, in the Marker's thread, as if it had marked there."""
    if isinstance(error, OcrUnavailable):
        return Outage(f"OCR cannot run on this worker: {error}")
    if isinstance(error, PHOTO_ERRORS):
        return PhotoFault(f"photo cannot be marked: {error}")
    if isinstance(error, Exception):  # whatever marking this photo raised, it is this photo's
        log.warning("marker.marking_crashed", id=job.id, exc_info=error)
        return PhotoFault(f"photo cannot be marked: unexpected {type(error).__name__}: {error}")
    raise error


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
