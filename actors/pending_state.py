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

from dataclasses import dataclass, replace

PENDING = "pending"
FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    id: str
    job: dict  # the job message as published (actors/job.py), to re-publish it
    status: str = PENDING
    attempts: int = 1
    since: float = 0.0  # when the job was last published
    reason: str = ""
    svc: str = ""  # the private name of the Svc that accepted the upload: its load

    def as_dict(self) -> dict:
        return {"id": self.id, "job": self.job, "status": self.status, "attempts": self.attempts,
                "since": self.since, "reason": self.reason, "svc": self.svc}

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        return cls(id=data["id"], job=data["job"], status=data.get("status", PENDING),
                   attempts=int(data.get("attempts", 1)), since=float(data.get("since", 0.0)),
                   reason=data.get("reason", ""), svc=str(data.get("svc", "")))


Entries = dict[str, Entry]


def apply(entries: Entries, message: dict) -> Entry | None:
    """Apply one group message; returns the entry after it (None when it left the list)."""
    kind, photo_id = message["type"], message.get("id")
    current = entries.get(photo_id)
    if kind == "pending.add":
        if current is None:
            current = entries[photo_id] = Entry(photo_id, message["job"], since=float(message["at"]),
                                                svc=str(message.get("svc", "")))
        return current
    if kind == "job.done":
        entries.pop(photo_id, None)
        return None
    if kind == "job.failed":
        job = current.job if current else message.get("job", {})
        attempts = current.attempts if current else 1
        entries[photo_id] = Entry(photo_id, job, FAILED, attempts, float(message.get("at", 0.0)),
                                  message.get("reason", "failed"), current.svc if current else "")
        return entries[photo_id]
    if kind == "job.retry":
        if current is None or current.status != PENDING:
            return current
        entries[photo_id] = replace(current, attempts=int(message["attempt"]), since=float(message["at"]))
        return entries[photo_id]
    return current


def pending_count(entries: Entries, svc: str | None = None) -> int:
    """Jobs pending, all of them or those ``svc`` accepted."""
    return sum(1 for entry in entries.values() if entry.status == PENDING and svc in (None, entry.svc))
