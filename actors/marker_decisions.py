"""What the Marker does with a delivery, by how often the job was handed out: pure decisions.

A job whose marking kills the worker (the process dies mid-job: out of
memory, a crash in a C library, the host going down) cannot be caught by any
code of that worker: the broker just hands it to the next one.  Its delivery
count (``JobDelivered.deliveries``) is what tells it apart, so the Marker
refuses to mark a job handed out more than ``max_deliveries`` times, and ends
it FAILED instead of letting it take one worker down after another.

The same count bounds the retries after a failure of this worker's
infrastructure (storage unreachable, Tesseract unable to run): the job goes
back to the queue for another try, and on its last allowed delivery it ends
FAILED with that failure as the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_MAX_DELIVERIES = 5
# Pause before a job goes back to the queue after an outage: doubled with each
# delivery, capped, so a storage hiccup of a few seconds does not use up a
# job's deliveries at once (1, 2, 4, 8 s: 15 s before the fifth and last try).
RETRY_PAUSE = 1.0
RETRY_PAUSE_MAX = 30.0
REASON_LIMIT = 500  # characters of a failure reason sent to the Svcs (Tesseract's stderr can be long)


@dataclass(frozen=True)
class Mark:
    """Mark the photo."""


@dataclass(frozen=True)
class Retry:
    """Give the job back to the queue, for this or another worker to try again."""

    reason: str


@dataclass(frozen=True)
class GiveUp:
    """End the job FAILED with ``reason`` and dead-letter it."""

    reason: str


def check_max_deliveries(max_deliveries: int) -> int:
    if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int) or max_deliveries < 1:
        raise ValueError(f"max_deliveries must be an integer >= 1, not {max_deliveries!r}")
    return max_deliveries


def check_ocr_timeout(ocr_timeout: float | None) -> float | None:
    """``None`` (marking's own rule: ``marking.ocr.ocr_timeout`` of the photo's size) or seconds > 0.

    A photo whose OCR runs over it ends FAILED (``OcrTimeout`` is the photo's fault, as every
    ``OcrFailed`` is): another try would run out of time the same way, so it is never retried."""
    if ocr_timeout is None:
        return None
    if isinstance(ocr_timeout, bool) or not isinstance(ocr_timeout, (int, float)) or not ocr_timeout > 0:
        raise ValueError(f"ocr_timeout must be a number of seconds > 0, not {ocr_timeout!r}")
    if not math.isfinite(ocr_timeout):
        raise ValueError(f"ocr_timeout must be finite, not {ocr_timeout!r}")
    return float(ocr_timeout)


def on_delivery(deliveries: int, max_deliveries: int) -> Mark | GiveUp:
    """Mark the photo, unless the job was handed out more than ``max_deliveries`` times:
    every earlier delivery ended without the job being settled, so marking it is what
    kills (or hangs) the workers."""
    if deliveries <= max_deliveries:
        return Mark()
    earlier = deliveries - 1
    return GiveUp(
        f"the job was handed to a worker {earlier} time{'s' if earlier != 1 else ''} and never finished: "
        f"marking this photo may crash or hang the worker (at most {max_deliveries} "
        f"deliver{'ies' if max_deliveries != 1 else 'y'}, photomark worker --max-deliveries)"
    )


def after_outage(deliveries: int, max_deliveries: int, reason: str) -> Retry | GiveUp:
    """After a failure that is not the photo's (``reason``): try again, unless this was the
    job's last allowed delivery."""
    if deliveries < max_deliveries:
        return Retry(short(reason))
    suffix = f" (gave up after {deliveries} deliver{'ies' if deliveries != 1 else 'y'})"
    return GiveUp(short(reason, REASON_LIMIT - len(suffix)) + suffix)


def retry_delay(deliveries: int, first: float = RETRY_PAUSE, limit: float = RETRY_PAUSE_MAX) -> float:
    """Seconds to hold a job before it goes back to the queue after its ``deliveries``-th try failed."""
    if first <= 0:
        return 0.0
    return min(limit, first * 2 ** max(0, min(deliveries - 1, 30)))


def short(reason: str, limit: int = REASON_LIMIT) -> str:
    """``reason`` on one line, at most ``limit`` characters."""
    line = " ".join(reason.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
