"""The fake twin of the RabbitMQ gateway: one durable job queue in memory.

``MemoryBroker`` satisfies the broker port (``ports/broker.py``) as the RabbitMQ
gateway (``gateways/broker/rabbitmq/``) does, and keeps its promises, so an
actor cannot tell them apart (``tests/conformance/test_broker_port.py`` runs the
same checks on both); it imports nothing of the real twin:

* a FIFO job queue with a dead-letter queue beside it; ``publish`` returns once
  the job is queued (the publisher confirm: callers ``.get()`` its future);
* manual acks, prefetch 1: a consumer holds at most one unacked job, and jobs
  go round-robin to the consumers that are idle;
* delivery tags are unique for the life of the broker; acking or rejecting an
  unknown tag, or a tag held by another consumer, raises ``PreconditionFailed``
  (RabbitMQ's PRECONDITION_FAILED channel error) and changes nothing;
* a consumer whose listener actor is gone (a delivery cannot be told to it, or
  the liveness check every ``liveness_interval`` finds it dead) is cancelled,
  and its unacked job goes back to the head of the queue with
  ``redelivered=True``, to be delivered once more to another consumer;
* ``reject(requeue=False)`` dead-letters the job, ``reject(requeue=True)``
  puts it back at the head of the queue (``redelivered=True``);
* every job counts the times it was handed to a consumer (``JobDelivered.deliveries``,
  1 on its first delivery); a delivery told to a listener that turned out dead
  counts too, as it does on RabbitMQ (the message reached the consumer's channel);
* the queue is durable and its jobs persistent: what the broker holds lives in a
  ``QueueStore``, and a broker started again on the same store (its actor crashed
  and was restarted) finds every job still there, and the ones that were handed
  out and not acked back at the head of the queue, redelivered, as RabbitMQ does
  after a restart.

Deliveries reach listeners as told calls,
``tell_call(listener, "on_job_delivered", JobDelivered(...))``.  Acks and
rejects come back as proxy calls; call them with a future (``broker.ack(...)``)
rather than ``tell_call``: an error on a told call would crash the broker actor.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import pykka

from actorkit.messaging import ref_of, tell_call
from actorkit.ticker import Ticker
from ports.broker import (
    BrokerError,
    BrokerStats,
    JobDelivered,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    check_consumer,
    job_body,
)

__all__ = ["BrokerError", "MemoryBroker", "NotAllowed", "NotFound", "PreconditionFailed", "QueueStore"]


@dataclass(frozen=True)
class _Job:
    body: bytes
    redelivered: bool = False
    deliveries: int = 0  # how many times it was handed to a consumer so far


@dataclass
class QueueStore:
    """What a durable queue keeps across restarts of the broker actor that serves it."""

    ready: deque[_Job] = field(default_factory=deque)
    dead: list[bytes] = field(default_factory=list)
    unacked: dict[tuple[int, int], _Job] = field(default_factory=dict)  # (broker, delivery tag) -> job
    declared: bool = False


@dataclass
class _Consumer:
    name: str
    listener: pykka.ActorRef
    unacked: tuple[int, _Job] | None = None  # (delivery tag, job)


class MemoryBroker(pykka.ThreadingActor):
    """One job queue and its dead-letter queue, with consumers, in memory."""

    def __init__(
        self,
        queue: str = "photomark.jobs",
        dead_letter_queue: str = "photomark.jobs.dead",
        liveness_interval: float = 0.1,
        store: QueueStore | None = None,
    ) -> None:
        super().__init__()
        if liveness_interval <= 0:
            raise ValueError(f"liveness_interval must be positive, not {liveness_interval!r}")
        self.queue = queue
        self.dead_letter_queue = dead_letter_queue
        self._store = QueueStore() if store is None else store
        # Jobs an earlier broker on this store handed out and nobody acked: back to the head, redelivered.
        for job in reversed(list(self._store.unacked.values())):
            self._store.ready.appendleft(replace(job, redelivered=True))
        self._store.unacked.clear()
        self._ready, self._dead = self._store.ready, self._store.dead
        self._consumers: dict[str, _Consumer] = {}
        self._turns: deque[str] = deque()  # consumer names; the next to serve first
        self._unacked: dict[int, str] = {}  # delivery tag -> consumer name
        self._last_tag = 0
        self._published = 0
        self._acked = 0
        self._liveness_interval = liveness_interval
        self._ticker: Ticker | None = None

    # -- lifecycle -----------------------------------------------------------

    def on_start(self) -> None:
        self._ticker = Ticker(self.actor_ref, "check_liveness", self._liveness_interval).start()

    def on_stop(self) -> None:
        self._ticker.stop()

    def on_failure(self, *_exc_info: Any) -> None:
        self._ticker.stop()

    def check_liveness(self) -> None:
        """Told by the ticker: cancels consumers whose listener died, so their job is redelivered."""
        self._check_liveness()

    # -- the gateway's methods -------------------------------------------------

    def declare(self) -> None:
        """Declare the job queue and its dead-letter queue; declaring again changes nothing."""
        self._store.declared = True

    def publish(self, body: bytes) -> None:
        """Queue one job at the tail; returning is the publisher confirm."""
        self._require_declared()
        self._ready.append(_Job(job_body(body)))
        self._published += 1
        self._dispatch()

    def consume(self, consumer: str, listener: pykka.ActorRef | pykka.ActorProxy) -> None:
        """Start delivering jobs to ``listener`` as ``on_job_delivered`` events, one unacked at a time."""
        self._require_declared()
        check_consumer(consumer)
        ref = ref_of(listener)
        if consumer in self._consumers:
            raise NotAllowed(f"attempt to reuse consumer tag '{consumer}'")
        self._consumers[consumer] = _Consumer(consumer, ref)
        self._turns.append(consumer)
        self._dispatch()

    def ack(self, consumer: str, delivery_tag: int) -> None:
        """The consumer is done with the job: it leaves the broker."""
        holder = self._holder(consumer, delivery_tag)
        holder.unacked = None
        self._settled(delivery_tag)
        self._acked += 1
        self._dispatch()

    def reject(self, consumer: str, delivery_tag: int, requeue: bool = False) -> None:
        """Give the job back: to the head of the queue, or to the dead-letter queue."""
        holder = self._holder(consumer, delivery_tag)
        _, job = holder.unacked  # type: ignore[misc]
        holder.unacked = None
        self._settled(delivery_tag)
        if requeue:
            self._ready.appendleft(replace(job, redelivered=True))
        else:
            self._dead.append(job.body)
        self._dispatch()

    def cancel(self, consumer: str) -> None:
        """Stop consuming; the consumer's unacked job goes back to the head of the
        queue, marked redelivered.  Cancelling an unknown consumer changes nothing
        (as RabbitMQ's basic.cancel)."""
        self._drop(consumer)
        self._dispatch()

    def is_connected(self) -> bool:
        """Always: an in-memory broker cannot be cut off (the real twin's answer can change)."""
        return True

    def stats(self) -> BrokerStats:
        """The counts of ``ports.broker.BrokerStats``; ``unacked`` counts every consumer's jobs."""
        return {
            "ready": len(self._ready),
            "unacked": len(self._unacked),
            "dead": len(self._dead),
            "consumers": len(self._consumers),
            "published": self._published,
            "acked": self._acked,
        }

    def dead_letters(self) -> list[bytes]:
        """The dead-lettered bodies, oldest first; they stay there."""
        return list(self._dead)

    # -- inside ----------------------------------------------------------------

    def _settled(self, delivery_tag: int) -> None:
        del self._unacked[delivery_tag]
        self._store.unacked.pop((id(self), delivery_tag), None)

    def _require_declared(self) -> None:
        if not self._store.declared:
            raise NotFound(f"no queue '{self.queue}' in vhost '/' (call declare() first)")

    def _holder(self, consumer: str, delivery_tag: int) -> _Consumer:
        """The consumer that holds ``delivery_tag``, or PRECONDITION_FAILED."""
        held_by = self._unacked.get(delivery_tag)
        if held_by is None:
            raise PreconditionFailed(f"unknown delivery tag {delivery_tag!r}")
        if held_by != consumer:
            raise PreconditionFailed(f"delivery tag {delivery_tag} is held by consumer '{held_by}', not '{consumer}'")
        return self._consumers[held_by]

    def _drop(self, consumer: str) -> None:
        gone = self._consumers.pop(consumer, None)
        if gone is None:
            return
        self._turns.remove(consumer)
        if gone.unacked is not None:
            tag, job = gone.unacked
            self._settled(tag)
            self._ready.appendleft(replace(job, redelivered=True))

    def _next_idle(self) -> _Consumer | None:
        """The first idle consumer in turn order; it moves to the back of the turns."""
        for name in self._turns:
            if self._consumers[name].unacked is None:
                self._turns.remove(name)
                self._turns.append(name)
                return self._consumers[name]
        return None

    def _dispatch(self) -> None:
        while self._ready:
            target = self._next_idle()
            if target is None:
                return
            job = self._ready.popleft()
            job = replace(job, deliveries=job.deliveries + 1)
            self._last_tag += 1
            tag = self._last_tag
            target.unacked = (tag, job)
            self._unacked[tag] = target.name
            self._store.unacked[(id(self), tag)] = job
            event = JobDelivered(
                consumer=target.name,
                delivery_tag=tag,
                body=job.body,
                redelivered=job.redelivered,
                deliveries=job.deliveries,
            )
            if not tell_call(target.listener, "on_job_delivered", event):
                self._drop(target.name)  # the job goes back to the head, redelivered

    def _check_liveness(self) -> None:
        dead = [c.name for c in self._consumers.values() if not c.listener.is_alive()]
        for name in dead:
            self._drop(name)
        if dead:
            self._dispatch()
