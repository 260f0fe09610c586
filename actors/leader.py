"""The Leader actor: acts on the pending list when this Svc is the oldest in the view.

Every Svc runs one; only the one that ``leadership.is_leader`` picks acts.  The
leader checkpoints the list to storage (so a restart of every Svc loses nothing:
the first Svc back starts from it, see ``actors/pending.py``) and re-publishes
jobs pending past a timeout, giving up after a bounded number of attempts.  A
restarted Leader actor asks the group for the current view and decides again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pykka
import structlog

from actorkit.ticker import Ticker
from actors import group_messages, leadership
from actors.group_messages import GroupMessage, JobDone, JobFailed, JobRetry, PendingWithdrawn
from ports.group import GroupError, GroupListener, ViewChanged
from storage import layout

log = structlog.get_logger()


@dataclass(frozen=True)
class LeaderSettings:
    retry_after: float = 120.0  # seconds a job may stay pending before it is published again
    max_attempts: int = 3
    tick: float = 1.0  # how often the leader looks at the list


class Leader(GroupListener, pykka.ThreadingActor):
    def __init__(
        self,
        group: pykka.ActorProxy,
        pending: pykka.ActorProxy,
        broker: pykka.ActorProxy,
        storage: pykka.ActorProxy,
        settings: LeaderSettings = LeaderSettings(),
        clock=time.time,
    ) -> None:
        super().__init__()
        self.group, self.pending, self.broker, self.storage = group, pending, broker, storage
        self.settings, self.clock = settings, clock
        self.me = ""
        self.members: tuple[str, ...] = ()
        self.leading = False
        self.checkpointed_version = -1
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.me = self.group.private_name().get()
        self.members = tuple(self.group.members(group_messages.SVCS_GROUP).get())
        self._decide()
        self.ticker = Ticker(self.actor_ref, "tick", self.settings.tick).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()
        if self.leading:
            try:
                self.checkpoint()
            except pykka.ActorDeadError:  # the replica stopped first: its last tick saved the list
                pass

    def is_leading(self) -> bool:
        return self.leading

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group == group_messages.SVCS_GROUP:
            self.members = event.members
            self._decide()

    def _decide(self) -> None:
        was_leading, self.leading = self.leading, leadership.is_leader(self.me, self.members)
        if self.leading and not was_leading:
            log.info("leader.elected", me=self.me, members=len(self.members))
        elif was_leading and not self.leading:
            log.info("leader.stepped_down", me=self.me)

    def checkpoint(self) -> None:
        if not self.pending.is_synced().get():
            return  # a replica still getting the list must not overwrite the last good checkpoint
        if self.pending.changes().get() == self.checkpointed_version:
            return  # nothing changed: no need to copy a list that may hold 100,000 entries
        version, entries = self.pending.snapshot().get()
        data = json.dumps({"v": 1, "saved_at": self.clock(), "entries": entries}, separators=(",", ":"))
        self.storage.write(layout.PENDING_STATE, data.encode()).get()
        self.checkpointed_version = version

    def tick(self) -> None:
        if not self.leading or not self.pending.is_synced().get():
            return  # only a leader whose replica holds the list acts on it
        now = self.clock()
        due = self.pending.overdue(now, self.settings.retry_after, self.settings.max_attempts).get()
        for photo_id in due.retry:
            self._retry(photo_id, now)
        for photo_id in due.give_up:
            self._multicast(
                JobFailed(photo_id, f"no worker finished the job after {self.settings.max_attempts} attempts", now)
            )
        self.checkpoint()

    def _retry(self, photo_id: str, now: float) -> None:
        if self.storage.exists(layout.report_path(photo_id)).get():
            self._multicast(JobDone(photo_id, now))  # the done message was lost
            return
        entry = self.pending.entry(photo_id).get()
        if entry is None:
            return
        if entry.job is None:
            self._multicast(JobFailed(photo_id, "the pending entry holds no job to publish again", now))
            return
        if not self.storage.exists(entry.job.photo).get():
            # The Svc that took the upload removed the photo again (its client was told the upload
            # failed) but could not say so to the group: the job can never be marked.
            self._multicast(PendingWithdrawn(photo_id, "its photo is not in storage: the upload did not complete", now))
            return
        self.broker.publish(entry.job.encode()).get()
        self._multicast(JobRetry(photo_id, entry.attempts + 1, now))
        log.info("leader.retry", id=photo_id, attempt=entry.attempts + 1)

    def _multicast(self, message: GroupMessage) -> None:
        """A lost send is logged: the job stays overdue, and the next tick deals with it again."""
        try:
            group_messages.multicast(self.group, message)
        except GroupError as error:
            log.warning("leader.send_lost", type=message.TYPE, id=getattr(message, "id", ""), error=str(error))
