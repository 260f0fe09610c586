"""Which Svc a Register hands out: the least loaded live one, taking turns among equals.

Loads arrive every few seconds (``svc.hello``); between two hellos many clients
ask, so Svcs of equal load are handed out in turn rather than always the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SvcRecord:
    name: str  # the Svc's private name in the group
    ip: str
    port: int
    load: int = 0  # jobs pending on it


def ranked(svcs: Iterable[SvcRecord]) -> list[SvcRecord]:
    """Least loaded first; ties go to the older Svc (smaller name) so the choice is stable."""
    return sorted(svcs, key=lambda svc: (svc.load, svc.name))


def choose(svcs: Iterable[SvcRecord], turn: int = 0) -> SvcRecord | None:
    """The least loaded Svc; the ``turn``-th of those equally least loaded."""
    candidates = ranked(svcs)
    if not candidates:
        return None
    least = [svc for svc in candidates if svc.load == candidates[0].load]
    return least[turn % len(least)]
