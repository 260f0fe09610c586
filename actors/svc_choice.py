"""Which Svc a Register hands out: the least loaded live one."""

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


def choose(svcs: Iterable[SvcRecord]) -> SvcRecord | None:
    candidates = ranked(svcs)
    return candidates[0] if candidates else None
