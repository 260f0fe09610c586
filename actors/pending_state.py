"""The pending list's state machine: group messages in, entries out.

Every Svc applies the same messages in the same (agreed) order, so every replica
holds the same entries.  An entry is a job still pending or one that failed (kept
so that its status can say why); a done job leaves the list, since its report in
storage says READY from then on.

``apply`` updates the mapping in place (a list of 100,000 entries is not copied
per message) and returns what became of the entry; it does no I/O and keeps no
clock: times come in the messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from actors.group_messages import JobDone, JobFailed, ListMessage, PendingAdd, PendingWithdrawn
from actors.job import Job, PoisonJob, job_from_dict
from storage import layout

PENDING = "pending"
FAILED = "failed"
STATUSES = (PENDING, FAILED)


class BadEntry(ValueError):
    """An entry of a snapshot or checkpoint that is not one."""


@dataclass(frozen=True)
class Entry:
    id: str
    job: Job | None  # the job as published, to re-publish it (None: failed before the list knew it)
    status: str = PENDING
    attempts: int = 1
    since: float = 0.0  # when the job was last published
    reason: str = ""
    svc: str = ""  # the private name of the Svc that accepted the upload: its load

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "job": self.job.as_dict() if self.job else None,
            "status": self.status,
            "attempts": self.attempts,
            "since": self.since,
            "reason": self.reason,
            "svc": self.svc,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        """The entry ``as_dict`` wrote; every field is required and checked (raises ``BadEntry``),
        so a snapshot or checkpoint never turns a failed job back into a pending one."""
        if not isinstance(data, dict):
            raise BadEntry(f"an entry is an object, not {type(data).__name__}")
        missing = {"id", "job", "status", "attempts", "since", "reason", "svc"} - data.keys()
        if missing:
            raise BadEntry(f"entry lacks {', '.join(sorted(missing))}")
        try:
            photo_id = layout.check_id(data["id"])
            job = None if data["job"] is None else job_from_dict(data["job"])
        except (layout.InvalidId, PoisonJob, AttributeError) as error:
            raise BadEntry(f"entry {data.get('id')!r}: {error}") from None
        if job is not None and job.id != photo_id:
            raise BadEntry(f"entry {photo_id} holds the job of {job.id}")
        status, attempts, since = data["status"], data["attempts"], data["since"]
        if status not in STATUSES:
            raise BadEntry(f"entry {photo_id}: status {status!r} is not one of {STATUSES}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise BadEntry(f"entry {photo_id}: attempts {attempts!r} is not a count")
        if isinstance(since, bool) or not isinstance(since, (int, float)) or not math.isfinite(since):
            raise BadEntry(f"entry {photo_id}: since {since!r} is not a time")
        if not isinstance(data["reason"], str) or not isinstance(data["svc"], str):
            raise BadEntry(f"entry {photo_id}: reason and svc are strings")
        return cls(photo_id, job, status, attempts, float(since), data["reason"], data["svc"])


Entries = dict[str, Entry]


def apply(entries: Entries, message: ListMessage) -> Entry | None:
    """Apply one group message; returns the entry after it (None when it left the list)."""
    if not isinstance(message, ListMessage):
        raise TypeError(f"{type(message).__name__} does not change the pending list")
    current = entries.get(message.id)
    if isinstance(message, PendingAdd):
        if current is None:
            current = entries[message.id] = Entry(message.id, message.job, since=message.at, svc=message.svc)
        return current
    if isinstance(message, (JobDone, PendingWithdrawn)):
        entries.pop(message.id, None)
        return None
    if isinstance(message, JobFailed):
        entries[message.id] = Entry(
            message.id,
            current.job if current else None,
            FAILED,
            current.attempts if current else 1,
            message.at,
            message.reason,
            current.svc if current else "",
        )
        return entries[message.id]
    # JobRetry
    if current is None or current.status != PENDING:
        return current
    entries[message.id] = replace(current, attempts=message.attempt, since=message.at)
    return entries[message.id]


def pending_count(entries: Entries, svc: str | None = None) -> int:
    """Jobs pending, all of them or those ``svc`` accepted."""
    return sum(1 for entry in entries.values() if entry.status == PENDING and svc in (None, entry.svc))
