"""The leader's decisions, in one place: who leads, and which jobs to re-publish or give up.

The leader is the oldest Svc in the view.  Svc member names start with the
Svc's start time in fixed-width base 36 (``actors/member_names.py``), so the
oldest is the smallest name and a newcomer never outranks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.member_names import role_of
from actors.pending_state import PENDING, Entries

SVC_ROLE = "s"


def leader_of(members: Iterable[str]) -> str | None:
    """The oldest Svc among the members (the Register is a member too, and never leads)."""
    return min((name for name in members if role_of(name) == SVC_ROLE), default=None)


def is_leader(me: str, members: Iterable[str]) -> bool:
    return leader_of(members) == me


@dataclass(frozen=True)
class Overdue:
    retry: tuple[str, ...]  # re-publish these (attempts left)
    give_up: tuple[str, ...]  # mark these failed


def overdue(entries: Entries, now: float, timeout: float, max_attempts: int) -> Overdue:
    retry, give_up = [], []
    for entry in entries.values():
        if entry.status != PENDING or now - entry.since < timeout:
            continue
        (retry if entry.attempts < max_attempts else give_up).append(entry.id)
    return Overdue(tuple(retry), tuple(give_up))
