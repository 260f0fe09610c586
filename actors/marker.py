"""The Marker: a worker's consumer of jobs; it OCRs, marks and reports one photo at a time.

For each delivered job: decode it (poison is rejected without requeue and
reported failed), read the photo, mark it (``marking/``), write the marked
photo and then the report (the report's presence means READY), multicast
``job.done``, and only then ack.  A crash before the ack leaves the job unacked,
and the broker hands it to another consumer.  Marking is idempotent: a job
whose report already exists is acknowledged without marking again.
"""

from __future__ import annotations

import json
import time

import pykka
import structlog

from actors import group_messages
from actors.group_messages import GroupMessage, JobDone, JobFailed
from actors.job import PoisonJob, decode, job_id_of
from marking import NotAnImage, mark_photo
from ports.broker import JobDelivered
from ports.group import GroupError
from storage import layout
from storage.backend import ObjectNotFound

log = structlog.get_logger()


class Marker(pykka.ThreadingActor):
    def __init__(self, consumer: str, broker: pykka.ActorProxy, group: pykka.ActorProxy,
                 storage: pykka.ActorProxy, mark=mark_photo, clock=time.time) -> None:
        super().__init__()
        self.consumer, self.broker, self.group, self.storage = consumer, broker, group, storage
        self.mark, self.clock = mark, clock

    def on_start(self) -> None:
        self.broker.consume(self.consumer, self.actor_ref).get()

    def on_stop(self) -> None:
        self._cancel()

    def on_failure(self, *exc_info) -> None:
        self._cancel()

    def _cancel(self) -> None:
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
        report_name = layout.report_path(job.id)
        if self.storage.exists(report_name).get():
            log.info("marker.already_marked", id=job.id, redelivered=delivery.redelivered)
            counts = self._counts(json.loads(self.storage.read(report_name).get()))
        else:
            try:
                photo = self.storage.read(job.photo).get()
            except ObjectNotFound:
                self._give_up(delivery, job.id, f"photo {job.photo} is not in storage")
                return
            started = self.clock()
            try:
                result = self.mark(photo, job.keywords, photo_id=job.id, filename=job.filename)
            except (NotAnImage, ValueError) as error:
                self._give_up(delivery, job.id, f"photo cannot be marked: {error}")
                return
            self.storage.write(layout.marks_path(job.id), result.png).get()
            report = json.dumps(result.report, ensure_ascii=False, indent=1).encode()
            self.storage.write(report_name, report).get()
            counts = self._counts(result.report)
            log.info("marker.marked", id=job.id, seconds=round(self.clock() - started, 3), counts=counts)
        self._multicast(JobDone(job.id, self.clock(), tuple(counts.items())))
        self.broker.ack(self.consumer, delivery.delivery_tag).get()

    @staticmethod
    def _counts(report: dict) -> dict[str, int]:
        return {keyword: found["count"] for keyword, found in report.get("keywords", {}).items()}

    def _give_up(self, delivery: JobDelivered, photo_id: str | None, reason: str) -> None:
        log.warning("marker.rejected", id=photo_id, reason=reason)
        if photo_id:
            self._multicast(JobFailed(photo_id, reason, self.clock()))
        self.broker.reject(self.consumer, delivery.delivery_tag, requeue=False).get()

    def _multicast(self, message: GroupMessage) -> None:
        """A lost send is logged and the job settled anyway: the report (or its absence) in storage
        is what Status reads, and the leader repairs the pending entry when it finds it overdue."""
        try:
            group_messages.multicast(self.group, message)
        except GroupError as error:
            log.warning("marker.send_lost", type=message.TYPE, id=message.id, error=str(error))
