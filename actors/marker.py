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
"""

from __future__ import annotations

import json
import threading
import time

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
    on_delivery,
    retry_delay,
    short,
)
from marking import (
    NotAnImage,
    OcrFailed,
    OcrUnavailable,
    PhotoTooLarge,
    UnreadableReport,
    counts_of,
    mark_photo,
)
from ports.broker import BrokerError, JobDelivered
from ports.group import GroupError
from storage import layout
from storage.backend import ObjectNotFound, UnsafeName

log = structlog.get_logger()

# What marking raises for a photo it cannot mark: the message says it all.
PHOTO_ERRORS = (NotAnImage, PhotoTooLarge, OcrFailed)


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
    ) -> None:
        super().__init__()
        self.consumer, self.broker, self.group, self.storage = consumer, broker, group, storage
        self.mark, self.clock = mark, clock
        self.max_deliveries = check_max_deliveries(max_deliveries)
        self.retry_pause = retry_pause
        self._retry_timer: threading.Timer | None = None

    def on_start(self) -> None:
        self.broker.consume(self.consumer, self.actor_ref).get()

    def on_stop(self) -> None:
        self._cancel()

    def on_failure(self, *exc_info) -> None:
        self._cancel()

    def _cancel(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()  # the job held for a retry goes back with the consumer
        try:
            self.broker.cancel(self.consumer)
        except pykka.ActorDeadError:
            pass

    def on_job_delivered(self, delivery: JobDelivered) -> None:
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
                counts = self._mark(job)
        except PhotoFault as fault:
            self._give_up(delivery, job.id, str(fault))
            return
        except Outage as outage:
            decision = after_outage(delivery.deliveries, self.max_deliveries, str(outage))
            if isinstance(decision, GiveUp):
                self._give_up(delivery, job.id, decision.reason)
            else:
                self._retry(delivery, job.id, decision.reason)
            return
        self._multicast(JobDone(job.id, self.clock(), tuple(counts.items())))
        self._settle(delivery, requeue=None)

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

    def _mark(self, job: Job) -> dict[str, int]:
        try:
            photo = self.storage.read(job.photo).get()
        except ObjectNotFound:
            raise PhotoFault(f"photo {job.photo} is not in storage") from None
        except UnsafeName as error:
            raise PhotoFault(f"photo {job.photo} cannot be in storage: {error}") from None
        except OSError as error:
            raise Outage(f"storage could not be read: {_describe(error)}") from error
        started = self.clock()
        try:
            result = self.mark(photo, job.keywords, photo_id=job.id, filename=job.filename)
            counts = counts_of(result.report)
        except OcrUnavailable as error:
            raise Outage(f"OCR cannot run on this worker: {error}") from error
        except PHOTO_ERRORS as error:
            raise PhotoFault(f"photo cannot be marked: {error}") from error
        except Exception as error:  # whatever marking this photo raised, it is this photo's
            log.warning("marker.marking_crashed", id=job.id, exc_info=True)
            raise PhotoFault(f"photo cannot be marked: unexpected {type(error).__name__}: {error}") from error
        report = json.dumps(result.report, ensure_ascii=False, indent=1).encode()
        try:
            self.storage.write(layout.marks_path(job.id), result.png).get()
            self.storage.write(layout.report_path(job.id), report).get()
        except OSError as error:
            raise Outage(f"storage could not be written: {_describe(error)}") from error
        log.info("marker.marked", id=job.id, seconds=round(self.clock() - started, 3), counts=counts)
        return counts

    # -- settling a delivery --------------------------------------------------------------

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


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
