"""When a supervised child dies: restart it (after how long), or give up.

Pure decisions, no threads and no clock: the supervisor passes in the times of
the child's earlier restarts and the time of the failure, and gets back either
``Restart(delay)`` or ``Escalate(reason)``.

The rule is Erlang's restart intensity with an exponential backoff on top:

* count the restarts that happened within the last ``window_seconds``;
* fewer than ``max_restarts`` of them: restart, after
  ``backoff_initial * backoff_factor ** count`` seconds, capped at ``backoff_max``
  (the first restart in a quiet window waits ``backoff_initial``, each further
  one in the same window waits ``backoff_factor`` times longer);
* ``max_restarts`` or more: escalate; restarting again would only loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """How often a child may be restarted, and how long to wait before each restart."""

    max_restarts: int = 5
    window_seconds: float = 30.0
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    backoff_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if not self.window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {self.window_seconds}")
        if not 0 <= self.backoff_initial <= self.backoff_max:
            raise ValueError(
                f"need 0 <= backoff_initial <= backoff_max, got {self.backoff_initial}, {self.backoff_max}"
            )
        if not (self.backoff_factor >= 1 and math.isfinite(self.backoff_factor)):
            raise ValueError(f"backoff_factor must be a finite number >= 1, got {self.backoff_factor}")


@dataclass(frozen=True)
class Restart:
    """Restart the child after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class Escalate:
    """Stop restarting: the supervisor gives up and escalates."""

    reason: str


Decision = Restart | Escalate


def recent(policy: RestartPolicy, restart_times: Iterable[float], now: float) -> list[float]:
    """The restart times that still count at ``now``: those within the window, oldest first.

    A time in the future (a clock that went back) counts as recent.
    """
    since = now - policy.window_seconds
    return sorted(t for t in restart_times if t > since)


def backoff(policy: RestartPolicy, count: int) -> float:
    """Delay before a restart that follows ``count`` restarts within the window."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    try:
        delay = policy.backoff_initial * policy.backoff_factor**count
    except OverflowError:
        return policy.backoff_max
    return min(delay, policy.backoff_max)


def decide(
    policy: RestartPolicy,
    recent_restart_times: Iterable[float],
    now: float,
    child: str = "child",
) -> Decision:
    """Decide what to do about a child that failed at ``now``.

    ``recent_restart_times`` are the times the child was restarted before (older
    ones outside the window are ignored, so the caller may pass its whole history).
    ``child`` only names the child in the escalation reason.
    """
    count = len(recent(policy, recent_restart_times, now))
    if count >= policy.max_restarts:
        return Escalate(
            f"child {child!r} failed after {count} restarts within {policy.window_seconds:g}s"
            f" (limit {policy.max_restarts})"
        )
    return Restart(backoff(policy, count))
