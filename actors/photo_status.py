"""Where a photo stands, from its pending entry and what storage holds."""

from __future__ import annotations

from actors.pending_state import FAILED, Entry

READY, PROCESSING, FAILED_STATE, NOT_FOUND = "READY", "PROCESSING", "FAILED", "NOT_FOUND"


def status_of(entry: Entry | None, photo_stored: bool, report_stored: bool) -> tuple[str, str]:
    """(state, message).  A written report wins over everything: marking is idempotent,
    so a late worker that finished a job the leader gave up on still makes it READY."""
    if report_stored:
        return READY, "marked"
    if entry is not None and entry.status == FAILED:
        return FAILED_STATE, entry.reason
    if entry is not None or photo_stored:
        return PROCESSING, f"waiting for a worker (attempt {entry.attempts})" if entry else "waiting for a worker"
    return NOT_FOUND, "no photo with this id"
