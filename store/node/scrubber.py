"""The Scrubber: re-hashes a node's objects one after another at a bounded rate and reports corrupt ones.

A pass takes the ids held when it starts and checks them in order; each check re-hashes the object
and compares it with the sha256 recorded when it arrived (``NodeDisk.verify``, one open file for
both, so a put replacing the object meanwhile is never taken for a corruption).  A mismatch, or an
object with no valid record, is logged as ``store.scrub_corrupt`` and handed to ``report`` as an
``InventoryItem`` with the hash really on disk; a good object is never reported.  The wiring sends
the items to the manager as a partial inventory (``scrub=True``); if ``report`` returns the
manager's ``InventoryReply``, the ids it lists in ``delete`` are deleted here (``apply_reply``).  A
report that fails is tried again at the next tick, with each item checked again first.

Pacing is a byte credit (``refill``, pure): every tick adds ``rate * interval`` bytes, capped at one
tick's worth, and the scrubber reads objects while the credit is positive; an object larger than
the credit is read whole and its excess repaid by the ticks after it.  The credit counts nominal
tick time, and ticks come ``interval`` seconds after the previous one was handled, so the bytes
read per second of wall time stay at or under ``rate``.  A new pass starts once the previous one
is done and ``pass_every`` seconds have passed since it started (``pass_due``, pure).  Ticks come
from a ``Ticker``: the actor never sleeps in its mailbox.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pykka
import structlog

from actorkit.ticker import Ticker
from protos import store_pb2
from store.model import InventoryItem
from store.node.disk import NodeDisk, ObjectNotFound, Verified
from store.node.reporter import apply_reply

log = structlog.get_logger()

Report = Callable[[list[InventoryItem]], "store_pb2.InventoryReply | None"]
MIB = 1024 * 1024


# -- pacing (pure) ------------------------------------------------------------------------------


def refill(credit: float, rate: float, elapsed: float, cap: float) -> float:
    """The byte credit after ``elapsed`` seconds at ``rate`` bytes per second, never above ``cap`` (a quiet
    spell buys no burst later).  A negative credit is a debt from an object read past it."""
    return min(cap, credit + rate * elapsed)


def pass_due(queue_empty: bool, since_pass_start: float, pass_every: float) -> bool:
    """A new pass starts once the last is done and ``pass_every`` seconds have passed since it started."""
    return queue_empty and since_pass_start >= pass_every


@dataclass(frozen=True)
class ScrubSettings:
    rate: float = 16 * MIB  # bytes re-hashed per second, at most
    interval: float = 0.25  # seconds between ticks
    pass_every: float = 300.0  # seconds from the start of one pass to the start of the next, at least
    first_pass_after: float = 60.0  # seconds from the start to the first pass (a start re-hashes everything)

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 bytes per second, got {self.rate}")
        if not self.interval > 0:
            raise ValueError(f"interval must be > 0 s, got {self.interval}")
        if self.pass_every < 0 or self.first_pass_after < 0:
            raise ValueError(
                f"pass_every and first_pass_after must be >= 0, got {self.pass_every}, {self.first_pass_after}"
            )


@dataclass(frozen=True)
class ScrubStatus:
    passes: int  # passes completed
    checked: int  # objects re-hashed
    corrupt: int  # corrupt objects found (one object found in two passes counts twice)
    queued: int  # objects left in the current pass
    unreported: int  # corrupt objects whose report has not gone through yet


class Scrubber(pykka.ThreadingActor):
    def __init__(self, disk: NodeDisk, report: Report, settings: ScrubSettings = ScrubSettings()) -> None:  # noqa: B008
        super().__init__()
        self.disk, self.report, self.settings = disk, report, settings
        self.credit = 0.0
        self.since_pass = settings.pass_every - settings.first_pass_after
        self.queue: deque[str] = deque()
        self.unreported: dict[str, InventoryItem] = {}  # found corrupt, report not sent yet
        self.retrying: set[str] = set()  # of those, the ones whose report failed once: checked again first
        self.passes = self.checked = self.corrupt = 0
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.ticker = Ticker(self.actor_ref, "tick", self.settings.interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()

    def tick(self) -> None:
        settings = self.settings
        self.credit = refill(self.credit, settings.rate, settings.interval, settings.rate * settings.interval)
        self.since_pass += settings.interval
        if pass_due(not self.queue, self.since_pass, settings.pass_every):
            self._start_pass()
        while self.credit > 0 and self.queue:
            self.credit -= self._check(self.queue.popleft())
            if not self.queue:
                self.passes += 1
                log.info("store.scrub_pass_done", passes=self.passes, checked=self.checked, corrupt=self.corrupt)
        if self.unreported:
            self._report()

    def status(self) -> ScrubStatus:
        return ScrubStatus(self.passes, self.checked, self.corrupt, len(self.queue), len(self.unreported))

    def _start_pass(self) -> None:
        self.since_pass = 0.0
        self.queue.extend(self.disk.ids())
        if not self.queue:
            self.passes += 1

    def _check(self, object_id: str) -> int:
        """Re-hashes one object; records it for the report if corrupt; returns the bytes read."""
        verified = self._verify(object_id)
        if verified is None:
            return 0
        self.checked += 1
        if not verified.good:
            self.corrupt += 1
            log.warning(
                "store.scrub_corrupt",
                object_id=object_id,
                size=verified.size,
                recorded=verified.recorded or None,
                actual=verified.actual,
            )
            self.unreported[object_id] = InventoryItem(object_id, verified.size, verified.actual)
        return verified.size

    def _verify(self, object_id: str) -> Verified | None:
        try:
            return self.disk.verify(object_id)
        except ObjectNotFound:  # deleted since the pass began
            return None
        except OSError as error:  # unreadable: the manager learns of it when it next reads this copy
            log.error("store.scrub_unreadable", object_id=object_id, error=str(error))
            return None

    def _report(self) -> None:
        for object_id in list(self.retrying):  # a report that failed: is the copy still corrupt?
            verified = self._verify(object_id)
            if verified is None or verified.good:
                self.unreported.pop(object_id, None)
            else:
                self.unreported[object_id] = InventoryItem(object_id, verified.size, verified.actual)
        self.retrying.clear()
        items = list(self.unreported.values())
        if not items:
            return
        try:
            reply = self.report(items)
        except Exception as error:  # noqa: BLE001 - the manager may be away: the next tick tries again
            log.warning("store.scrub_report_failed", objects=len(items), error=str(error))
            self.retrying = set(self.unreported)
            return
        self.unreported.clear()
        log.info("store.scrub_reported", objects=len(items))
        if isinstance(reply, store_pb2.InventoryReply):
            apply_reply(self.disk, reply)
