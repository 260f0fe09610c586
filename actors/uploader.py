"""The Uploader: stores a checked photo, announces it as pending, queues its job.

Only when the broker has confirmed the job does the upload get its id; if the
job cannot be queued, the photo is removed again and the pending entry marked
failed, so nothing half-done is left behind a client that saw an error.
"""

from __future__ import annotations

import time

import pykka
import structlog

from actors import group_messages
from actors.group_messages import PendingAdd, PendingWithdrawn
from actors.job import Job
from actors.upload_validation import ValidUpload
from ports.group import GroupError
from storage import layout

log = structlog.get_logger()


class JobNotQueued(RuntimeError):
    """The job could not be announced to the group or queued on the broker: nothing was kept."""


class Uploader(pykka.ThreadingActor):
    def __init__(
        self, storage: pykka.ActorProxy, broker: pykka.ActorProxy, group: pykka.ActorProxy, clock=time.time
    ) -> None:
        super().__init__()
        self.storage, self.broker, self.group, self.clock = storage, broker, group, clock
        self.me = ""

    def on_start(self) -> None:
        self.me = self.group.private_name().get()

    def upload(self, upload: ValidUpload) -> str:
        photo_id = layout.new_id()
        job = Job(photo_id, layout.photo_path(photo_id, upload.ext), upload.keywords, upload.filename, self.clock())
        self.storage.write(job.photo, upload.data).get()
        try:
            # Waited on, so the pending entry is ordered before anything a worker says about the job.
            group_messages.multicast(self.group, PendingAdd(photo_id, job, job.submitted_at, self.me))
        except GroupError as error:
            log.error("upload.not_announced", id=photo_id, error=str(error))
            self.storage.delete(job.photo).get()
            raise JobNotQueued(f"the job could not be announced to the Svcs: {error}") from error
        try:
            self.broker.publish(job.encode()).get()
        except Exception as error:
            log.error("upload.not_queued", id=photo_id, error=str(error))
            self.storage.delete(job.photo).get()
            try:
                group_messages.multicast(
                    self.group, PendingWithdrawn(photo_id, f"could not queue the job: {error}", self.clock())
                )
            except GroupError as lost:  # the leader publishes it again when overdue: its photo is gone, so it fails
                log.error("upload.withdrawal_not_announced", id=photo_id, error=str(lost))
            raise JobNotQueued(f"the job could not be queued: {error}") from error
        log.info("upload.accepted", id=photo_id, bytes=len(upload.data), keywords=len(upload.keywords))
        return photo_id
