"""The Uploader: announces a stored photo as pending, then queues its job; many uploads at once.

The photo is written (streamed, checked) by the gRPC handler before the job is
handed here.  Per upload the order the pending list needs is kept: the photo
is stored, then ``pending.add`` is multicast in agreed order and waited for (so
the entry is ordered before anything a worker says about the job), then the
job is published with a publisher confirm.  Only when the broker has confirmed
does the upload get its id; if the job cannot be queued, the photo is removed
again and the entry withdrawn, so nothing half-done is left behind a client
that saw an error.

Between uploads there is no order to keep, and each step is a wait on another
actor or server: so the steps of each upload run on the Uploader's pool of
threads, and many uploads' multicasts and confirms are in flight at once.
``queue`` answers at once with a ``concurrent.futures.Future`` of the photo's
id (a gRPC handler awaits it without a thread: ``asyncio.wrap_future``).  The
actor itself holds only what every upload shares (its private name, the pool);
a stopped or crashed Uploader cancels the uploads it had not begun.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import pykka
import structlog

from actors import group_messages
from actors.group_messages import PendingAdd, PendingWithdrawn
from actors.job import Job
from ports.group import GroupError

log = structlog.get_logger()

IN_FLIGHT = 32  # uploads whose multicast or confirm may be awaited at once


class JobNotQueued(RuntimeError):
    """The job could not be announced to the group or queued on the broker: nothing was kept."""


class Uploader(pykka.ThreadingActor):
    def __init__(
        self,
        storage: pykka.ActorProxy,
        broker: pykka.ActorProxy,
        group: pykka.ActorProxy,
        clock=time.time,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        super().__init__()
        self.storage, self.broker, self.group, self.clock = storage, broker, group, clock
        self.me = ""
        self.pool = concurrent.futures.ThreadPoolExecutor(in_flight, thread_name_prefix="uploader")

    def on_start(self) -> None:
        self.me = self.group.private_name().get()

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def on_failure(self, *_exc_info: Any) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def queue(self, job: Job) -> concurrent.futures.Future:
        """Announce and queue ``job``, whose photo is stored: a future of its id, or of ``JobNotQueued``
        (the photo deleted again and the entry withdrawn)."""
        return self.pool.submit(self._announce_and_publish, job, self.me)

    def _announce_and_publish(self, job: Job, me: str) -> str:
        """One upload's steps, in order, on a pool thread (no state of the actor is touched)."""
        try:
            # Waited on, so the pending entry is ordered before anything a worker says about the job.
            group_messages.multicast(self.group, PendingAdd(job.id, job, job.submitted_at, me))
        except GroupError as error:
            log.error("upload.not_announced", id=job.id, error=str(error))
            self.storage.delete(job.photo).get()
            raise JobNotQueued(f"the job could not be announced to the Svcs: {error}") from error
        try:
            self.broker.publish(job.encode()).get()
        except Exception as error:
            log.error("upload.not_queued", id=job.id, error=str(error))
            self.storage.delete(job.photo).get()
            try:
                group_messages.multicast(
                    self.group, PendingWithdrawn(job.id, f"could not queue the job: {error}", self.clock())
                )
            except GroupError as lost:  # the leader publishes it again when overdue: its photo is gone, so it fails
                log.error("upload.withdrawal_not_announced", id=job.id, error=str(lost))
            raise JobNotQueued(f"the job could not be queued: {error}") from error
        log.info("upload.accepted", id=job.id, keywords=len(job.keywords))
        return job.id
