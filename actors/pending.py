"""The PendingList actor: this Svc's replica of the pending list.

It is fed only by group messages, delivered in agreed order, through the pure
state machine in ``actors/pending_state.py``; every Svc applies the same
messages, so every replica agrees.  Listeners (the Notifier) are told when a job
leaves PROCESSING.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pykka
import structlog

from actors import group_messages, leadership, pending_state
from actors.messaging import tell_call
from actors.pending_state import FAILED, Entry
from gateways.events import GroupListener, MessageReceived

log = structlog.get_logger()

TRACKED = {"pending.add", "job.done", "job.failed", "job.retry"}


class PendingList(GroupListener, pykka.ThreadingActor):
    def __init__(self, listeners: Sequence[pykka.ActorProxy] = ()) -> None:
        super().__init__()
        self.listeners = list(listeners)
        self.entries: pending_state.Entries = {}
        self.version = 0  # counts applied changes, so the leader checkpoints only when needed

    def on_message_received(self, event: MessageReceived) -> None:
        if event.group != group_messages.SVCS_GROUP:
            return
        try:
            message = group_messages.decode(event.message_type, event.payload)
        except group_messages.BadPayload as error:
            log.warning("group.bad_payload", sender=event.sender, error=str(error))
            return
        if message["type"] in TRACKED:
            self.apply(message)

    def apply(self, message: dict) -> None:
        try:
            entry = pending_state.apply(self.entries, message)
        except (KeyError, TypeError, ValueError) as error:
            log.warning("pending.bad_message", type=message.get("type"), error=repr(error))
            return
        self.version += 1
        if entry is None or entry.status == FAILED:
            for listener in self.listeners:
                tell_call(listener, "on_job_finished", message["id"])

    def entry(self, photo_id: str) -> Entry | None:
        return self.entries.get(photo_id)

    def count(self) -> int:
        return pending_state.pending_count(self.entries)

    def snapshot(self) -> tuple[int, list[dict]]:
        """(version, entries as dicts): what the leader checkpoints."""
        return self.version, [entry.as_dict() for entry in self.entries.values()]

    def restore(self, entries: Iterable[dict]) -> int:
        """Adds checkpointed entries this replica does not know yet; returns how many."""
        added = 0
        for data in entries:
            entry = Entry.from_dict(data)
            if entry.id not in self.entries:
                self.entries[entry.id] = entry
                added += 1
        if added:
            self.version += 1
        return added

    def overdue(self, now: float, timeout: float, max_attempts: int) -> leadership.Overdue:
        return leadership.overdue(self.entries, now, timeout, max_attempts)
